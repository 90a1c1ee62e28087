// Prompt templates: `{{key}}` is replaced by the run's value for key, then the routine's default. A placeholder
// without a value is an error naming it (never an empty string slipped into a prompt). `{{{{` is a literal `{{`.
const PLACEHOLDER = /\{\{\{\{|\{\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}\}/g;

/** The placeholders a template uses, each once, in order. */
export function placeholders(template: string): string[] {
  const names = new Set<string>();
  for (const m of template.matchAll(PLACEHOLDER)) if (m[1] !== undefined) names.add(m[1]);
  return [...names];
}

export class MissingValues extends Error {
  constructor(readonly names: string[]) {
    super(`the prompt's ${names.map((n) => `{{${n}}}`).join(", ")} ${names.length === 1 ? "has" : "have"} no value; pass ${names.map((n) => `--set ${n}=VALUE`).join(" ")} (or give the routine a default)`);
  }
}

/** The template with every placeholder filled; MissingValues names those that have no value. */
export function render(template: string, values: Readonly<Record<string, string>>, defaults: Readonly<Record<string, string>> = {}): string {
  const missing = placeholders(template).filter((n) => values[n] === undefined && defaults[n] === undefined);
  if (missing.length > 0) throw new MissingValues(missing);
  return template.replace(PLACEHOLDER, (whole, name: string | undefined) => (name === undefined ? "{{" : (values[name] ?? defaults[name]!)));
}
