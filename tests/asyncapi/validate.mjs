#!/usr/bin/env node
// Parse an AsyncAPI document with the official parser (@asyncapi/parser) and print every diagnostic.
//
//   node tests/asyncapi/validate.mjs shared/contracts/asyncapi.json
//
// The file is parsed by its absolute path, so relative file $refs (schemas/*.json) resolve against it.
// One line per diagnostic: "<severity>\t<path>\t<message> [<code>]", then a summary line.
// Exit 0 when no diagnostic has error severity, 1 when one has, 2 on bad usage or a crash.
import { resolve } from 'node:path';
import { Parser, fromFile, DiagnosticSeverity } from '@asyncapi/parser';

const SEVERITY = {
  [DiagnosticSeverity.Error]: 'error',
  [DiagnosticSeverity.Warning]: 'warning',
  [DiagnosticSeverity.Information]: 'info',
  [DiagnosticSeverity.Hint]: 'hint',
};

const [file] = process.argv.slice(2);
if (!file) {
  console.error('usage: node validate.mjs <asyncapi-file>');
  process.exit(2);
}

try {
  const source = resolve(file);
  const { document, diagnostics } = await fromFile(new Parser(), source).parse();
  const counts = { error: 0, warning: 0, info: 0, hint: 0 };
  for (const d of diagnostics) {
    const severity = SEVERITY[d.severity] ?? `severity-${d.severity}`;
    counts[severity] = (counts[severity] ?? 0) + 1;
    const path = d.path.length ? `#/${d.path.map(String).join('/')}` : '#';
    const where = d.source && d.source !== source ? ` (in ${d.source})` : '';
    console.log(`${severity}\t${path}\t${d.message} [${d.code}]${where}`);
  }
  const summary = Object.entries(counts).map(([name, n]) => `${n} ${name}`).join(', ');
  console.log(`${file}: ${summary}${document ? '' : ' (no document produced)'}`);
  process.exit(counts.error > 0 || !document ? 1 : 0);
} catch (error) {
  console.error(`error\t#\tparser failed: ${error?.stack ?? error}`);
  process.exit(2);
}
