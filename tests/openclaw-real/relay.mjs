// Runs inside the gateway's network namespace (launch.sh): joins the namespace's loopback to
// the test process outside through Unix sockets (the file system is shared, the network not).
//   GATEWAY_SOCKET (outside connects) -> 127.0.0.1:GATEWAY_PORT (the gateway, inside)
//   127.0.0.1:MODEL_PORT (the gateway's model provider, inside) -> MODEL_SOCKET (the stub, outside)
import net from "node:net";

const [gatewaySocket, gatewayPort, modelPort, modelSocket] = process.argv.slice(2);

function join(accepted, connect) {
  const upstream = connect();
  accepted.pipe(upstream);
  upstream.pipe(accepted);
  // A reset on one side resets the other (a killed client must look killed to the gateway).
  accepted.on("error", () => upstream.destroy());
  upstream.on("error", () => accepted.destroy());
}

net.createServer((c) => join(c, () => net.connect(Number(gatewayPort), "127.0.0.1"))).listen(gatewaySocket);
net.createServer((c) => join(c, () => net.connect(modelSocket))).listen(Number(modelPort), "127.0.0.1");
