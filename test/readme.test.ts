/** The README's copies of facts that live in code stay equal to the code. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { crashTableMarkdown } from '../lambda/core/crash-table';

const readme = readFileSync(join(__dirname, '..', 'README.md'), 'utf8');

test('the README holds the crash table exactly as lambda/core/crash-table.ts has it', () => {
  expect(readme).toContain(crashTableMarkdown());
});

test('the README names one secret for the App private key in every example', () => {
  const names = new Set(
    [...readme.matchAll(/\bgithub[/-][\w/-]*(?:app|private)[\w-]*key\b/g)].map((m) => m[0]),
  );
  expect([...names]).toEqual(['github/runners-app-key']);
});
