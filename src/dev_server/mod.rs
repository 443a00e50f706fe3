//! The local Temporal dev server of `dev` and the appliance: [`supervisor`] starts `temporal
//! server start-dev`, waits for it and stops it; [`backup`] copies its SQLite database while
//! it runs, and restores one.

pub mod backup;
pub mod supervisor;
