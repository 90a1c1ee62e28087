// `cc completion bash|zsh|fish`: shell completion scripts generated from cc's own command definitions (the paths,
// options, value names and descriptions clipanion knows), so a new command or option is completed without anyone
// listing it here. Value names decide how a value is completed: `<dir>` directories, `<file>` and `<json|file>`
// files, and a few names have a fixed set of words (`<format>`, `<mode>`, `<status>`, `<shell>`).
import { PERMISSION_MODES } from "../../services/common/validate-run.js";
import { OUTPUT_FORMATS } from "./formats.js";

export const SHELLS = ["bash", "zsh", "fish"] as const;
export type Shell = (typeof SHELLS)[number];

export interface OptionSpec {
  /** `-n`, `--count`. */
  names: string[];
  /** The value's name, for options that take one. */
  value?: string;
  description: string;
}

export interface CommandSpec {
  path: string[];
  description: string;
  options: OptionSpec[];
  /** The name of its first positional argument (`task`, `file`), if it takes one. */
  positional?: string;
}

/** What clipanion tells about a command (Cli.definition) and the paths it answers to. */
export interface CommandSource {
  paths: string[][];
  definition: { usage: string; description?: string | undefined; options: { definition: string; description?: string | undefined }[] };
}

const STATUSES = ["queued", "running", "succeeded", "failed", "cancelled"];

type ValueKind = { kind: "files" } | { kind: "dirs" } | { kind: "words"; words: readonly string[] } | { kind: "none" };

export function valueKind(name: string | undefined): ValueKind {
  if (name === undefined) return { kind: "none" };
  if (name === "dir") return { kind: "dirs" };
  if (name === "file" || name.endsWith("|file")) return { kind: "files" };
  const words: Record<string, readonly string[]> = { format: OUTPUT_FORMATS, mode: PERMISSION_MODES, status: STATUSES, shell: SHELLS };
  return words[name] ? { kind: "words", words: words[name] } : { kind: "none" };
}

/** Descriptions as one plain line: markdown backticks dropped. */
const plain = (s: string | undefined) => (s ?? "").replace(/`/g, "").replace(/\s+/g, " ").trim();

export function commandSpecs(sources: readonly CommandSource[]): CommandSpec[] {
  const specs: CommandSpec[] = [];
  for (const { paths, definition } of sources) {
    const options = definition.options.map((o): OptionSpec => {
      const [names = "", ...rest] = o.definition.split(" ");
      const value = /<([^>]+)>/.exec(rest.join(" "))?.[1];
      return { names: names.split(","), ...(value ? { value } : {}), description: plain(o.description) };
    });
    // With options listed apart, what is left in angle brackets are the positional arguments.
    const positional = /<([a-z-]+)>/.exec(definition.usage)?.[1];
    for (const path of paths) specs.push({ path, description: plain(definition.description), options, ...(positional ? { positional } : {}) });
  }
  return specs;
}

/** Every command path and every prefix of one ("config"), with the words that may follow it. */
function tree(specs: readonly CommandSpec[]): Map<string, { spec?: CommandSpec; children: Map<string, string> }> {
  const nodes = new Map<string, { spec?: CommandSpec; children: Map<string, string> }>();
  const node = (key: string) => {
    let n = nodes.get(key);
    if (!n) nodes.set(key, (n = { children: new Map() }));
    return n;
  };
  node("");
  for (const spec of specs) {
    for (let i = 0; i < spec.path.length; i++) {
      const parent = node(spec.path.slice(0, i).join(" "));
      const word = spec.path[i]!;
      if (!parent.children.has(word)) parent.children.set(word, i === spec.path.length - 1 ? spec.description : "");
      node(spec.path.slice(0, i + 1).join(" "));
    }
    node(spec.path.join(" ")).spec = spec;
  }
  for (const [key, n] of nodes) {
    for (const [word, description] of n.children) if (!description) n.children.set(word, nodes.get(key ? `${key} ${word}` : word)?.spec?.description || `${word} commands`);
  }
  return nodes;
}

const ROOT_OPTIONS: OptionSpec[] = [
  { names: ["-h", "--help"], description: "Show help" },
  { names: ["--version"], description: "Show the version" },
];

export function completionScript(shell: Shell, specs: readonly CommandSpec[], binaries: readonly string[] = ["cc", "claudecluster"]): string {
  switch (shell) {
    case "bash":
      return bashScript(specs, binaries);
    case "zsh":
      return zshScript(specs, binaries);
    case "fish":
      return fishScript(specs, binaries);
  }
}

// bash

function bashReply(kind: ValueKind): string {
  switch (kind.kind) {
    case "files":
      return `mapfile -t COMPREPLY < <(compgen -f -- "$cur")`;
    case "dirs":
      return `mapfile -t COMPREPLY < <(compgen -d -- "$cur")`;
    case "words":
      return `mapfile -t COMPREPLY < <(compgen -W "${kind.words.join(" ")}" -- "$cur")`;
    case "none":
      return "COMPREPLY=()";
  }
}

function bashScript(specs: readonly CommandSpec[], binaries: readonly string[]): string {
  const nodes = tree(specs);
  const known = [...nodes.keys()].filter((k) => k !== "").map((k) => `"|${k}|"`);
  const cases: string[] = [];
  for (const [key, n] of nodes) {
    const options = [...(n.spec?.options ?? []), ...(key === "" ? ROOT_OPTIONS : [])];
    const lines: string[] = [];
    const valued = options.filter((o) => o.value);
    const byKind = new Map<string, string[]>();
    for (const o of valued) {
      const reply = bashReply(valueKind(o.value));
      byKind.set(reply, [...(byKind.get(reply) ?? []), ...o.names]);
    }
    if (byKind.size > 0) {
      lines.push(`      case "$prev" in`);
      for (const [reply, names] of byKind) lines.push(`        ${names.join("|")}) ${reply}; return ;;`);
      lines.push("      esac");
    }
    lines.push(`      if [[ $cur == -* ]]; then mapfile -t COMPREPLY < <(compgen -W "${options.flatMap((o) => o.names).join(" ")}" -- "$cur"); return; fi`);
    if (n.children.size > 0) lines.push(`      mapfile -t COMPREPLY < <(compgen -W "${[...n.children.keys()].join(" ")}" -- "$cur")`);
    else if (n.spec?.positional) lines.push(`      ${bashReply(valueKind(n.spec.positional))}`);
    cases.push(`    "${key}")\n${lines.join("\n")}\n      ;;`);
  }
  return `# bash completion for ${binaries.join(" and ")}, generated by \`cc completion bash\` from cc's command definitions.
# Load it now with \`source <(cc completion bash)\`, or for good with
# \`cc completion bash > ~/.local/share/bash-completion/completions/cc\`.
_cc_complete() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="" path="" next w i
  (( COMP_CWORD > 1 )) && prev="\${COMP_WORDS[COMP_CWORD-1]}"
  # The command so far: the words after cc that name a command (or the start of one), options skipped.
  for (( i = 1; i < COMP_CWORD; i++ )); do
    w="\${COMP_WORDS[i]}"
    [[ $w == -* ]] && continue
    next="\${path:+$path }$w"
    case "|$next|" in
      ${known.join("|")}) path="$next" ;;
      *) break ;;
    esac
  done
  case "$path" in
${cases.join("\n")}
  esac
}
complete -o default -F _cc_complete ${binaries.join(" ")}
`;
}

// zsh

/** Text inside a single-quoted _arguments spec: quotes closed and reopened, and [ ] : escaped. */
const zq = (s: string) => s.replace(/([[\]:\\])/g, "\\$1").replace(/'/g, `'\\''`);

function zshAction(kind: ValueKind): string {
  switch (kind.kind) {
    case "files":
      return "_files";
    case "dirs":
      return "_files -/";
    case "words":
      return `(${kind.words.join(" ")})`;
    case "none":
      return " ";
  }
}

function zshOption(o: OptionSpec): string {
  const value = o.value ? `:${zq(o.value)}:${zshAction(valueKind(o.value))}` : "";
  const repeatable = /repeatable/.test(o.description) ? "*" : "";
  if (o.names.length === 1) return `'${repeatable}${o.names[0]}${o.value && o.names[0]!.startsWith("--") ? "=" : ""}[${zq(o.description)}]${value}'`;
  const exclusive = repeatable ? "*" : `(${o.names.join(" ")})`;
  return `'${exclusive}'{${o.names.join(",")}}'[${zq(o.description)}]${value}'`;
}

function zshScript(specs: readonly CommandSpec[], binaries: readonly string[]): string {
  const nodes = tree(specs);
  const known = [...nodes.keys()].filter((k) => k !== "");
  const cases: string[] = [];
  for (const [key, n] of nodes) {
    const options = [...(n.spec?.options ?? []), ...(key === "" ? ROOT_OPTIONS : [])];
    const specsOf = options.map(zshOption);
    let body: string;
    if (n.children.size > 0) {
      const described = [...n.children].map(([word, description]) => `'${word}:${zq(description)}'`);
      body = `      local -a commands=(${described.join(" ")})\n      _arguments -s ${specsOf.join(" ")} '1:command:{_describe command commands}'`;
    } else {
      const positional = n.spec?.positional ? ` '*:${zq(n.spec.positional)}:${zshAction(valueKind(n.spec.positional))}'` : "";
      body = `      _arguments -s ${specsOf.join(" ")}${positional}`;
    }
    cases.push(`    "${key}")\n${body}\n      ;;`);
  }
  return `#compdef ${binaries.join(" ")}
# zsh completion for ${binaries.join(" and ")}, generated by \`cc completion zsh\` from cc's command definitions.
# Load it now with \`source <(cc completion zsh)\` (after compinit), or for good by saving it as _cc in a
# directory of your $fpath.
_cc() {
  local path_so_far="" next w
  local -i i used=1
  # The command so far: the words after cc that name a command (or the start of one).
  for (( i = 2; i < CURRENT; i++ )); do
    w="\${words[i]}"
    [[ $w == -* ]] && break
    next="\${path_so_far:+$path_so_far }$w"
    case "|$next|" in
      ${known.map((k) => `"|${k}|"`).join("|")}) path_so_far="$next"; used=i ;;
      *) break ;;
    esac
  done
  # What follows the command is completed as if it were the whole command line.
  words=("\${(@)words[used,-1]}")
  (( CURRENT -= used - 1 ))
  case "$path_so_far" in
${cases.join("\n")}
  esac
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
  _cc "$@"
else
  compdef _cc ${binaries.join(" ")}
fi
`;
}

// fish

const fq = (s: string) => `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;

function fishScript(specs: readonly CommandSpec[], binaries: readonly string[]): string {
  const nodes = tree(specs);
  const lines: string[] = [];
  const known = [...nodes.keys()].filter((k) => k !== "");
  for (const [key, n] of nodes) {
    const when = `__cc_path_is ${fq(key)}`;
    for (const [word, description] of n.children) lines.push(`complete -c $cmd -n ${fq(when)} -f -a ${fq(word)} -d ${fq(description)}`);
    const options = [...(n.spec?.options ?? []), ...(key === "" ? ROOT_OPTIONS : [])];
    for (const o of options) {
      const names = o.names.map((name) => (name.startsWith("--") ? `-l ${name.slice(2)}` : `-s ${name.slice(1)}`)).join(" ");
      const kind = valueKind(o.value);
      const value = !o.value ? "" : kind.kind === "files" || kind.kind === "dirs" ? " -r -F" : kind.kind === "words" ? ` -x -a ${fq(kind.words.join(" "))}` : " -x";
      lines.push(`complete -c $cmd -n ${fq(when)}${n.children.size > 0 || !o.value ? " -f" : ""} ${names}${value} -d ${fq(o.description)}`);
    }
    if (n.spec?.positional && n.children.size === 0) {
      const kind = valueKind(n.spec.positional);
      if (kind.kind === "words") lines.push(`complete -c $cmd -n ${fq(when)} -f -a ${fq(kind.words.join(" "))}`);
      else if (kind.kind === "files" || kind.kind === "dirs") lines.push(`complete -c $cmd -n ${fq(when)} -F`);
    }
  }
  return `# fish completion for ${binaries.join(" and ")}, generated by \`cc completion fish\` from cc's command definitions.
# Load it now with \`cc completion fish | source\`, or for good with
# \`cc completion fish > ~/.config/fish/completions/cc.fish\`.
function __cc_path_is --argument-names want
    # The command so far: the words after cc that name a command (or the start of one), options skipped.
    set -l words (commandline -opc)
    set -l path ""
    for w in $words[2..-1]
        string match -q -- '-*' $w; and continue
        set -l next (string trim -- "$path $w")
        contains -- $next ${known.map(fq).join(" ")}; or break
        set path $next
    end
    test "$path" = "$want"
end
for cmd in ${binaries.join(" ")}
    complete -c $cmd -f
${lines.map((l) => `    ${l}`).join("\n")}
end
`;
}
