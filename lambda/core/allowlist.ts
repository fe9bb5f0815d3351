/**
 * Whether jobs of a repository may use our runners: a pure function over the configured allowlist.
 */

/** The configured allowlist. Both empty means every repository the GitHub App is installed on. */
export interface Allowlist {
  /** Owners (organizations or users) all of whose repositories are allowed. */
  readonly owners: readonly string[];
  /** Single repositories allowed, as `owner/repo`. */
  readonly repositories: readonly string[];
}

/**
 * True when `owner/repo` is allowed. GitHub logins and repository names are case-insensitive, so the
 * comparison is too. With no entry at all, the app's installations are the boundary.
 */
export function isAllowed(list: Allowlist, repository: string): boolean {
  if (list.owners.length === 0 && list.repositories.length === 0) return true;
  const full = repository.toLowerCase();
  const owner = full.split('/')[0];
  return (
    list.owners.some((o) => o.toLowerCase() === owner) ||
    list.repositories.some((r) => r.toLowerCase() === full)
  );
}
