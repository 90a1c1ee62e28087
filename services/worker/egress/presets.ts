// Named lists of hosts for egress allowlists (`@name` in CC_EGRESS or a request's egress.allow). `*.` entries match
// subdomains, not the name itself.
export const EGRESS_PRESETS: Record<string, readonly string[]> = {
  // Anthropic's own services besides the model API (which always goes through the credential proxy): claude's web
  // fetch checks, docs, the console.
  anthropic: ["anthropic.com", "*.anthropic.com", "claude.ai", "*.claude.ai", "claude.com", "*.claude.com"],
  // Package registries of the common ecosystems, and Debian/Ubuntu/Alpine mirrors.
  "package-registries": [
    "registry.npmjs.org", "registry.yarnpkg.com", "registry.npmjs.com",
    "pypi.org", "files.pythonhosted.org", "pypi.python.org", "conda.anaconda.org", "repo.anaconda.com",
    "crates.io", "index.crates.io", "static.crates.io", "static.rust-lang.org",
    "proxy.golang.org", "sum.golang.org", "index.golang.org",
    "rubygems.org", "index.rubygems.org",
    "repo.maven.apache.org", "repo1.maven.org", "plugins.gradle.org", "services.gradle.org",
    "api.nuget.org", "nuget.org", "packagist.org", "repo.packagist.org", "hex.pm", "repo.hex.pm",
    "deb.debian.org", "security.debian.org", "archive.ubuntu.com", "security.ubuntu.com", "dl-cdn.alpinelinux.org",
  ],
  // Git hosting: clones, raw files, release downloads, their APIs.
  "git-hosts": [
    "github.com", "*.github.com", "*.githubusercontent.com", "gitlab.com", "*.gitlab.com", "bitbucket.org", "*.bitbucket.org",
    "codeberg.org", "sr.ht", "*.sr.ht",
  ],
};
