//! What a lock holds and who waits, and what each event makes it do: pure, so every rule is
//! unit-tested here and the workflow around it (`super`) only carries out the effects.

use crate::activities::lock::{Holder, LockRequest};
use crate::config::WhenBusy;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// A lock's state, carried across continue-as-new as the workflow's input.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LockState {
    #[serde(default)]
    pub holders: Vec<Holder>,
    /// First come, first served (a `cancel_other` request goes first).
    #[serde(default)]
    pub waiting: VecDeque<Waiter>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Waiter {
    pub holder: Holder,
    /// How many may hold the lock at once when this one gets it.
    pub limit: u32,
}

/// What the workflow must do after an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Signal `lock-granted` to the run: it holds the lock now.
    Grant(Holder),
    /// Signal `lock-refused` to the run (`when_busy = "skip"`).
    Refuse(Holder),
    /// Ask Temporal to cancel the run (`when_busy = "cancel_other"`); its release follows.
    Cancel(Holder),
}

impl LockState {
    /// A run asks for the lock. Asking twice (an activity retried after its signal went
    /// through) changes nothing; a holder that asks again is told again that it holds it.
    pub fn acquire(&mut self, request: &LockRequest) -> Vec<Effect> {
        let who = &request.holder;
        if self.holders.contains(who) {
            return vec![Effect::Grant(who.clone())];
        }
        if self.waiting.iter().any(|w| &w.holder == who) {
            return Vec::new();
        }
        let waiter = Waiter {
            holder: who.clone(),
            limit: request.limit.max(1),
        };
        if self.waiting.is_empty() && self.holders.len() < waiter.limit as usize {
            self.holders.push(who.clone());
            return vec![Effect::Grant(who.clone())];
        }
        match request.when_busy {
            WhenBusy::Queue => {
                self.waiting.push_back(waiter);
                Vec::new()
            }
            WhenBusy::Skip => vec![Effect::Refuse(who.clone())],
            WhenBusy::CancelOther => {
                self.waiting.push_front(waiter);
                self.holders.iter().cloned().map(Effect::Cancel).collect()
            }
        }
    }

    /// A run gives the lock back, or stops waiting (it was cancelled, or has closed); the
    /// next in line get it. Unknown runs change nothing.
    pub fn release(&mut self, who: &Holder) -> Vec<Effect> {
        self.holders.retain(|h| h != who);
        self.waiting.retain(|w| &w.holder != who);
        self.grant_next()
    }

    fn grant_next(&mut self) -> Vec<Effect> {
        let mut granted = Vec::new();
        while let Some(next) = self.waiting.front() {
            if self.holders.len() >= next.limit as usize {
                break;
            }
            let next = self.waiting.pop_front().expect("front exists").holder;
            self.holders.push(next.clone());
            granted.push(Effect::Grant(next));
        }
        granted
    }

    /// Nobody holds it and nobody waits: the lock workflow may end.
    pub fn is_idle(&self) -> bool {
        self.holders.is_empty() && self.waiting.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(name: &str) -> Holder {
        Holder {
            workflow_id: name.to_owned(),
            run_id: format!("{name}-run"),
        }
    }

    fn ask(name: &str, limit: u32, when_busy: WhenBusy) -> LockRequest {
        LockRequest {
            key: "k".into(),
            holder: run(name),
            limit,
            when_busy,
        }
    }

    #[test]
    fn the_first_run_gets_the_lock_and_the_next_wait_in_order_of_asking() {
        let mut lock = LockState::default();
        assert_eq!(
            lock.acquire(&ask("a", 1, WhenBusy::Queue)),
            [Effect::Grant(run("a"))]
        );
        assert_eq!(lock.acquire(&ask("b", 1, WhenBusy::Queue)), []);
        assert_eq!(lock.acquire(&ask("c", 1, WhenBusy::Queue)), []);
        assert_eq!(lock.release(&run("a")), [Effect::Grant(run("b"))]);
        assert_eq!(lock.holders, [run("b")]);
        assert_eq!(lock.release(&run("b")), [Effect::Grant(run("c"))]);
        assert_eq!(lock.release(&run("c")), []);
        assert!(lock.is_idle());
    }

    #[test]
    fn asking_twice_never_makes_two_holders_or_two_places_in_the_queue() {
        let mut lock = LockState::default();
        lock.acquire(&ask("a", 1, WhenBusy::Queue));
        assert_eq!(
            lock.acquire(&ask("a", 1, WhenBusy::Queue)),
            [Effect::Grant(run("a"))]
        );
        lock.acquire(&ask("b", 1, WhenBusy::Queue));
        assert_eq!(lock.acquire(&ask("b", 1, WhenBusy::Queue)), []);
        assert_eq!(lock.holders, [run("a")]);
        assert_eq!(lock.waiting.len(), 1);
    }

    #[test]
    fn a_limit_of_two_lets_two_hold_it_and_a_third_wait() {
        let mut lock = LockState::default();
        lock.acquire(&ask("a", 2, WhenBusy::Queue));
        assert_eq!(
            lock.acquire(&ask("b", 2, WhenBusy::Queue)),
            [Effect::Grant(run("b"))]
        );
        assert_eq!(lock.acquire(&ask("c", 2, WhenBusy::Queue)), []);
        assert_eq!(lock.release(&run("b")), [Effect::Grant(run("c"))]);
        assert_eq!(lock.holders, [run("a"), run("c")]);
    }

    #[test]
    fn skip_is_refused_while_busy_and_granted_when_free() {
        let mut lock = LockState::default();
        lock.acquire(&ask("a", 1, WhenBusy::Skip));
        assert_eq!(
            lock.acquire(&ask("b", 1, WhenBusy::Skip)),
            [Effect::Refuse(run("b"))]
        );
        assert!(lock.waiting.is_empty());
        lock.release(&run("a"));
        assert_eq!(
            lock.acquire(&ask("b", 1, WhenBusy::Skip)),
            [Effect::Grant(run("b"))]
        );
    }

    #[test]
    fn cancel_other_cancels_the_holders_and_goes_first_when_they_release() {
        let mut lock = LockState::default();
        lock.acquire(&ask("a", 1, WhenBusy::Queue));
        lock.acquire(&ask("b", 1, WhenBusy::Queue));
        assert_eq!(
            lock.acquire(&ask("c", 1, WhenBusy::CancelOther)),
            [Effect::Cancel(run("a"))]
        );
        assert_eq!(lock.holders, [run("a")], "a holds it until it has stopped");
        assert_eq!(lock.release(&run("a")), [Effect::Grant(run("c"))]);
        assert_eq!(lock.release(&run("c")), [Effect::Grant(run("b"))]);
    }

    #[test]
    fn a_waiter_that_leaves_loses_its_place_and_an_unknown_release_changes_nothing() {
        let mut lock = LockState::default();
        lock.acquire(&ask("a", 1, WhenBusy::Queue));
        lock.acquire(&ask("b", 1, WhenBusy::Queue));
        lock.acquire(&ask("c", 1, WhenBusy::Queue));
        assert_eq!(lock.release(&run("b")), []);
        assert_eq!(lock.release(&run("zz")), []);
        assert_eq!(lock.release(&run("a")), [Effect::Grant(run("c"))]);
    }

    #[test]
    fn the_state_survives_continue_as_new_as_json() {
        let mut lock = LockState::default();
        lock.acquire(&ask("a", 1, WhenBusy::Queue));
        lock.acquire(&ask("b", 1, WhenBusy::Queue));
        let carried: LockState =
            serde_json::from_value(serde_json::to_value(&lock).unwrap()).unwrap();
        assert_eq!(carried, lock);
        let fresh: LockState = serde_json::from_value(serde_json::json!({})).unwrap();
        assert!(fresh.is_idle());
    }
}
