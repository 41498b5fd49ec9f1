/**
 * The suites' tiny template language: `{{name}}` is replaced by a variable, whose value may hold
 * placeholders of its own. Pure. An unknown name is an error (a typo must not reach an eval file), and
 * so is a cycle.
 */
const PLACEHOLDER = /\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g;
const MAX_DEPTH = 8;

export class TemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemplateError';
  }
}

export function fill(text: string, vars: Readonly<Record<string, string>>, where: string, depth = 0): string {
  if (depth > MAX_DEPTH)
    throw new TemplateError(`${where}: placeholders nest more than ${MAX_DEPTH} deep (a variable refers to itself?)`);
  return text.replace(PLACEHOLDER, (_m, name: string) => {
    if (!Object.hasOwn(vars, name)) throw new TemplateError(`${where}: unknown placeholder {{${name}}}`);
    return fill(vars[name], vars, `${where} > {{${name}}}`, depth + 1);
  });
}

/** Empty snippets leave gaps: runs of spaces, trailing spaces and runs of blank lines are closed up. */
export function tidy(text: string): string {
  return text
    .replace(/[ \t]{2,}/g, ' ')
    .replace(/[ \t]+\n/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}
