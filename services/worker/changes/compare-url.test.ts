import { describe, expect, it } from "vitest";
import { compareUrl, webLocation } from "./compare-url.js";

describe("compareUrl", () => {
  it("GitHub, from https, ssh and scp-like URLs", () => {
    for (const url of ["https://github.com/org/repo", "https://github.com/org/repo.git", "git@github.com:org/repo.git", "ssh://git@github.com/org/repo.git"]) {
      expect(compareUrl(url, "cc/01abc"), url).toBe("https://github.com/org/repo/compare/cc/01abc?expand=1");
    }
    expect(compareUrl("https://github.com/org/repo", "cc/x", "main")).toBe("https://github.com/org/repo/compare/main...cc/x?expand=1");
  });

  it("GitLab: a new merge request for the branch", () => {
    expect(compareUrl("https://gitlab.com/group/sub/repo.git", "cc/x")).toBe("https://gitlab.com/group/sub/repo/-/merge_requests/new?merge_request%5Bsource_branch%5D=cc%2Fx");
    expect(compareUrl("git@gitlab.example.com:g/r.git", "b", "dev")).toBe("https://gitlab.example.com/g/r/-/merge_requests/new?merge_request%5Bsource_branch%5D=b&merge_request%5Btarget_branch%5D=dev");
  });

  it("Gitea and Codeberg", () => {
    expect(compareUrl("https://codeberg.org/o/r.git", "cc/x")).toBe("https://codeberg.org/o/r/compare/cc/x");
    expect(compareUrl("ssh://git@gitea.example.org:2222/o/r.git", "cc/x", "main")).toBe("https://gitea.example.org/o/r/compare/main...cc/x");
  });

  it("other hosts get none", () => {
    expect(compareUrl("https://127.0.0.1:8443/public.git", "cc/x")).toBe("");
    expect(compareUrl("https://git.example.com/r.git", "cc/x")).toBe("");
    expect(webLocation("not a url")).toBeUndefined();
  });
});
