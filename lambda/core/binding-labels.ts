/**
 * Binding labels: labels of a job that name that job alone (such as
 * `bind-${{ github.run_id }}-${{ github.job }}-${{ strategy.job-index }}`). JIT registration cannot
 * bind a runner to one job, but a label can: a label that matches the deployment's binding pattern
 * is left out of routing and added to the labels of the runner launched for that job, so no other
 * runner can take the job, and no other job that carries a binding label of its own can take the
 * runner. Pure.
 */

/** The binding pattern as the Lambdas receive it: a regular expression source, matched case-insensitively. */
export type BindingPattern = RegExp;

/** The pattern of a prefix, such as `bind-`: labels that begin with it, compared as GitHub compares labels. */
export function prefixPatternSource(prefix: string): string {
  return `^${prefix.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&')}`;
}

/** Compiles a pattern source; undefined for none. Throws a SyntaxError for an invalid expression. */
export function compileBindingPattern(source: string | undefined): BindingPattern | undefined {
  return source === undefined || source === '' ? undefined : new RegExp(source, 'i');
}

/** A job's labels, split into those routing looks at and those that bind its runner to it. */
export interface SplitLabels {
  readonly routing: readonly string[];
  readonly binding: readonly string[];
}

/** Splits a job's labels by the pattern (every label routes when there is none). */
export function splitBindingLabels(
  labels: readonly string[],
  pattern: BindingPattern | undefined,
): SplitLabels {
  if (!pattern) return { routing: labels, binding: [] };
  const routing: string[] = [];
  const binding: string[] = [];
  for (const label of labels) (pattern.test(label) ? binding : routing).push(label);
  return { routing, binding };
}

/** The labels the runner of a job registers with: its config's, then the job's binding labels. */
export function runnerLabels(configLabels: readonly string[], binding: readonly string[]): string[] {
  const seen = new Set(configLabels.map((l) => l.toLowerCase()));
  return [...configLabels, ...binding.filter((l) => !seen.has(l.toLowerCase()))];
}

/**
 * Why a binding pattern cannot be used with these configs, for synthesis: it must be a valid
 * expression and match no label a config offers (such a label would vanish from routing).
 */
export function bindingPatternProblems(
  source: string,
  configs: readonly { readonly name: string; readonly labels: readonly string[] }[],
): string[] {
  let pattern: RegExp;
  try {
    pattern = new RegExp(source, 'i');
  } catch (e) {
    return [`bindingLabels: "${source}" is not a valid regular expression: ${(e as Error).message}`];
  }
  if (pattern.test('')) return [`bindingLabels: "${source}" matches the empty label, and so every label`];
  return configs.flatMap((c) =>
    c.labels
      .filter((l) => pattern.test(l))
      .map(
        (l) =>
          `bindingLabels: "${source}" matches label "${l}" of runner config "${c.name}": a binding pattern must match no configured label`,
      ),
  );
}
