// Validates every GitHub Actions workflow against the SchemaStore schema, offline, with
// action-validator's WebAssembly build. Prints file: path detail for each problem; exits 1 if any.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { validateWorkflow } from "@action-validator/core";

const dir = new URL("../.github/workflows/", import.meta.url).pathname;
const files = readdirSync(dir).filter((name) => /\.ya?ml$/.test(name));
if (files.length === 0) {
  console.error(`no workflows in ${dir}`);
  process.exit(1);
}
let problems = 0;
const report = (file, errors) => {
  for (const e of errors) {
    if (e.states?.length) report(file, e.states.flatMap((state) => state.errors));
    else {
      const where = e.location ? `${e.location.line}:${e.location.column}` : e.path;
      console.log(`${file}: ${where} ${e.detail ?? e.title}`);
      problems += 1;
    }
  }
};
for (const name of files) {
  report(join(".github/workflows", name), validateWorkflow(readFileSync(join(dir, name), "utf8")).errors);
}
console.log(`workflow schema: ${files.length} file(s), ${problems} problem(s)`);
process.exit(problems ? 1 : 0);
