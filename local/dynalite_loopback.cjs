// Start dynalite (a DynamoDB-compatible server) on 127.0.0.1 with an in-memory store, and
// print {"port": ..., "address": ...} once it listens. Its CLI binds every interface unless
// --host is given; nothing on this machine may listen beyond loopback, so the host is fixed
// here rather than left to a flag. Tables are ACTIVE at once (createTableMs 0): the local
// stack waits for them anyway, and 500 ms per start is pure waiting.
// Usage: node dynalite_loopback.cjs <path to dynalite/index.js> [port]
"use strict";
const dynalite = require(process.argv[2]);

const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
server.listen(Number(process.argv[3] ?? 0), "127.0.0.1", () => {
  const { address, port } = server.address();
  console.log(JSON.stringify({ port, address: `http://${address}:${port}` }));
});
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => process.exit(0));
}
