// Lint Cypher with Neo4j's own checker (@neo4j-cypher/language-support), no server needed.
//
// stdin:  JSON [{"id": "...", "text": "..."}, ...]
// stdout: JSON {"<id>": [{"severity", "line", "column", "message", "deprecated"}, ...], ...}
//
// No dbSchema is given, so unknown procedures/functions/labels are not reported (they are only
// checked against a schema), and every `$parameter` counts as undefined: those complaints are
// dropped with the package's own isNotParamError. Multiple statements separated by `;` are
// split and checked one by one by the linter itself; positions are 1-based lines and columns
// in the whole text. Severity follows LSP: 1 error, 2 warning, 3 information, 4 hint.
import { readFileSync } from 'node:fs';
import { isNotParamError, lintCypherQuery } from '@neo4j-cypher/language-support';

const DEPRECATED_TAG = 2; // vscode-languageserver-types DiagnosticTag.Deprecated

const items = JSON.parse(readFileSync(0, 'utf8'));
const out = {};
for (const { id, text } of items) {
  const { diagnostics } = lintCypherQuery(text, {}, {});
  out[id] = diagnostics.filter(isNotParamError).map((d) => ({
    severity: d.severity,
    line: d.range.start.line + 1,
    column: d.range.start.character + 1,
    message: d.message,
    deprecated: (d.tags ?? []).includes(DEPRECATED_TAG),
  }));
}
process.stdout.write(JSON.stringify(out));
