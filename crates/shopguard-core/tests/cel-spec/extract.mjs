import { tests } from "./package/dist/esm/testdata/conformance.js";
const wanted = process.argv.slice(2);
const out = [];
for (const section of tests.suites) {
  if (!wanted.includes(section.name)) continue;
  const groups = [];
  for (const group of section.suites ?? []) {
    groups.push({ name: group.name, tests: (group.tests ?? []).map((t) => t.original) });
  }
  if ((section.tests ?? []).length) groups.push({ name: "", tests: section.tests.map((t) => t.original) });
  out.push({ name: section.name, groups });
}
// Doubles are written as text (JavaScript's shortest round-trip form), so that a JSON reader
// that parses floating-point numbers approximately cannot change an expected value.
const doublesAsText = (key, value) =>
  key === "doubleValue" && typeof value === "number" ? String(value) : value;
console.log(
  JSON.stringify(
    { source: "@bufbuild/cel-spec 0.6.1 (cel-spec v0.25.1)", sections: out },
    doublesAsText,
    1,
  ),
);
