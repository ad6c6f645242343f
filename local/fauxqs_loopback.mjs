// Start fauxqs on 127.0.0.1 only. Its startFauxqs() hard-codes host "0.0.0.0" (fauxqs 2.4,
// dist/app.js), and nothing on this machine may listen beyond loopback, so the listen call
// is redirected here. Usage: node fauxqs_loopback.mjs <path to fauxqs/dist/app.js> [port]
import net from "node:net";
import { pathToFileURL } from "node:url";

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (args[0] && typeof args[0] === "object" && args[0].host === "0.0.0.0") {
    args[0] = { ...args[0], host: "127.0.0.1" };
  }
  return listen.apply(this, args);
};

const { startFauxqs } = await import(pathToFileURL(process.argv[2]).href);
const server = await startFauxqs({ port: Number(process.argv[3] ?? 0), logger: false });
console.log(JSON.stringify({ port: server.port, address: server.address }));
