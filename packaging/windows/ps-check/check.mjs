// PowerShell syntax check without PowerShell: each file is parsed with the tree-sitter
// PowerShell grammar (its WebAssembly build, run by web-tree-sitter: no native code, no pwsh).
// A file with a parse error (an ERROR node, or a MISSING token the parser had to invent, like
// an unclosed brace) fails with its line and column. Two mistakes PowerShell itself rejects but
// the grammar accepts are checked by pattern: "$name:" in a double-quoted string (PowerShell
// reads it as a drive- or scope-qualified variable; write "${name}:"), and a script without
// its "#Requires -RunAsAdministrator" line (install.ps1 and uninstall.ps1 need it).
//
//   node check.mjs FILE.ps1...     exit 0 when every file is clean, 1 otherwise
//   node check.mjs --self-test     the checker against scripts known good and known broken
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Parser, Language } from 'web-tree-sitter';

const here = dirname(fileURLToPath(import.meta.url));
await Parser.init();
const language = await Language.load(
  join(here, 'node_modules/tree-sitter-powershell/tree-sitter-powershell.wasm'),
);
const parser = new Parser();
parser.setLanguage(language);

const SCOPES = new Set(['env', 'global', 'script', 'local', 'private', 'using', 'variable', 'function', 'alias']);

/** The problems of one script's text, each "line:column: what". */
export function problems(text, { requireAdmin = true } = {}) {
  const out = [];
  const tree = parser.parse(text);
  const walk = (node) => {
    if (node.isError || node.isMissing) {
      const at = `${node.startPosition.row + 1}:${node.startPosition.column + 1}`;
      out.push(node.isMissing
        ? `${at}: syntax error: missing ${node.type}`
        : `${at}: syntax error near ${JSON.stringify(node.text.split('\n')[0].slice(0, 60))}`);
      return;
    }
    if (node.hasError) for (const child of node.children) walk(child);
  };
  walk(tree.rootNode);
  tree.delete();
  text.split('\n').forEach((line, i) => {
    if (line.trimStart().startsWith('#')) return;
    for (const string of line.matchAll(/"(?:[^"`]|`.)*"/g)) {
      for (const m of string[0].matchAll(/\$([A-Za-z_][A-Za-z0-9_]*):(?![A-Za-z0-9_])/g)) {
        if (!SCOPES.has(m[1].toLowerCase())) {
          out.push(`${i + 1}:${string.index + m.index + 1}: "$${m[1]}:" in a string is read as a scoped variable: write "\${${m[1]}}:"`);
        }
      }
    }
  });
  if (requireAdmin && !/^#Requires -RunAsAdministrator\s*$/m.test(text)) {
    out.push('1:1: no "#Requires -RunAsAdministrator" line');
  }
  return out;
}

function selfTest() {
  const good = [
    '#Requires -RunAsAdministrator',
    'param(',
    '    [Parameter(Mandatory = $true)]',
    '    [string]$Zip,',
    '    [switch]$Purge',
    ')',
    'function Get-Hash {',
    '    param([string]$Path)',
    '    return (Get-FileHash -LiteralPath $Path -Algorithm SHA256).Hash',
    '}',
    'if ($Purge) { Write-Host "purge ${Zip}: $env:ProgramData" } else { exit 1 }',
    'try { $h = @{ a = 1; b = @(1, 2) } } finally { Remove-Item -Force x }',
    '',
  ].join('\n');
  const broken = {
    'an unclosed brace': good.replace('Remove-Item -Force x }', 'Remove-Item -Force x'),
    'an unclosed parenthesis': good.replace('[switch]$Purge\n)', '[switch]$Purge\n'),
    'an unterminated string': good.replace('"purge ${Zip}: $env:ProgramData"', '"purge'),
    'a dangling operator': good.replace('return (Get-FileHash', 'return (1 + ) (Get-FileHash'),
    'a scoped-variable string': good.replace('${Zip}:', '$Zip:'),
    'no #Requires line': good.replace('#Requires -RunAsAdministrator\n', ''),
  };
  let failed = 0;
  const clean = problems(good);
  if (clean.length) {
    console.log(`self-test: the good script is rejected: ${clean.join('; ')}`);
    failed++;
  }
  for (const [what, text] of Object.entries(broken)) {
    const found = problems(text);
    if (found.length === 0) {
      console.log(`self-test: ${what} is NOT caught`);
      failed++;
    } else {
      console.log(`self-test: ${what} caught: ${found[0]}`);
    }
  }
  return failed;
}

const args = process.argv.slice(2);
if (args[0] === '--self-test') {
  const failed = selfTest();
  console.log(failed ? `ps-check self-test: ${failed} FAILED` : 'ps-check self-test: ok');
  process.exit(failed ? 1 : 0);
}
if (args.length === 0) {
  console.error('usage: node check.mjs FILE.ps1... | --self-test');
  process.exit(2);
}
let bad = 0;
for (const file of args) {
  const found = problems(readFileSync(file, 'utf8'));
  if (found.length) {
    bad++;
    for (const p of found) console.log(`${file}:${p}`);
  } else {
    console.log(`${file}: ok`);
  }
}
process.exit(bad ? 1 : 0);
