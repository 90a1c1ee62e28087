// Where to open a pull (or merge) request for a pushed branch, on the hosts whose URL scheme is known: GitHub, GitLab
// and Gitea (Forgejo, Codeberg). Other hosts get no URL: opening the request is the host's business.

type Host = "github" | "gitlab" | "gitea";

function hostKind(host: string): Host | undefined {
  const h = host.toLowerCase();
  if (h === "github.com" || h.startsWith("github.") || h.includes(".github.")) return "github";
  if (h === "gitlab.com" || h.startsWith("gitlab.") || h.includes(".gitlab.")) return "gitlab";
  if (h === "codeberg.org" || h.startsWith("gitea.") || h.startsWith("forgejo.") || h.includes(".gitea.")) return "gitea";
  return undefined;
}

/** `host` and `owner/repo` of an https://, ssh:// or scp-like URL; undefined for anything else. */
export function webLocation(url: string): { host: string; path: string } | undefined {
  let host: string;
  let path: string;
  const scheme = /^(https|ssh):\/\/(?:[^@/]*@)?([^/:]+)(?::\d+)?(\/.*)$/.exec(url);
  if (scheme) {
    host = scheme[2]!;
    path = scheme[3]!;
  } else {
    const scp = /^(?:[^@:/]+@)?([^:/]+):(.+)$/.exec(url);
    if (!scp) return undefined;
    host = scp[1]!;
    path = scp[2]!;
  }
  path = path.replace(/^\/+/, "").replace(/\/+$/, "").replace(/\.git$/, "");
  if (path === "" || path.includes("..")) return undefined;
  return { host, path };
}

const encodeRef = (ref: string) => ref.split("/").map(encodeURIComponent).join("/");

/**
 * The page that proposes merging `branch` into `base` (empty: the repository's default branch), or "" when the host is
 * not one of the known kinds.
 */
export function compareUrl(remote: string, branch: string, base = ""): string {
  const where = webLocation(remote);
  if (!where) return "";
  const kind = hostKind(where.host);
  const root = `https://${where.host}/${where.path}`;
  switch (kind) {
    case "github":
      return `${root}/compare/${base ? `${encodeRef(base)}...` : ""}${encodeRef(branch)}?expand=1`;
    case "gitlab":
      return `${root}/-/merge_requests/new?merge_request%5Bsource_branch%5D=${encodeURIComponent(branch)}${base ? `&merge_request%5Btarget_branch%5D=${encodeURIComponent(base)}` : ""}`;
    case "gitea":
      return `${root}/compare/${base ? `${encodeRef(base)}...` : ""}${encodeRef(branch)}`;
    default:
      return "";
  }
}
