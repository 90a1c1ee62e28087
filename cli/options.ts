// Options that take a value, declared with the value's name (`"--router <url>"`) so help shows `--router <url>`
// instead of clipanion's `--router #0`. clipanion has no notion of a value name: these wrappers declare the option
// as usual and remember the name against the option's definition; `CcCli` (cli.ts) puts the names into every usage
// text clipanion renders (help, the command list, usage errors, `cc completion`).
import { Option } from "clipanion";

/** What clipanion keeps of an option (its CommandBuilder's `options` entries); only these two fields are read. */
interface OptionDefinition {
  nameSet: string[];
  arity: number;
}

interface Builder {
  options: OptionDefinition[];
}

interface DeclaredOption {
  definition(builder: Builder, key: string): void;
}

const VALUE_NAMES = new WeakMap<OptionDefinition, string>();

function named<T>(spec: string, declare: (names: string) => T): T {
  const m = /^(\S+) <([^<>]+)>$/.exec(spec);
  if (!m) throw new Error(`option spec "${spec}" must look like "--name <value>"`);
  const [, names, valueName] = m as unknown as [string, string, string];
  const option = declare(names) as unknown as DeclaredOption;
  const define = option.definition;
  option.definition = (builder, key) => {
    const before = builder.options.length;
    define.call(option, builder, key);
    const added = builder.options[before];
    if (added) VALUE_NAMES.set(added, valueName);
  };
  return option as unknown as T;
}

/** Like clipanion's `Option.String`, with the value's name in the spec: `ValueOption.String("--port <port>", "8400", {...})`. */
const StringWithValue = ((spec: string, ...rest: unknown[]) =>
  named(spec, (names) => (Option.String as (...a: unknown[]) => unknown)(names, ...rest))) as typeof Option.String;

/** Like clipanion's `Option.Array` (a repeatable option), with the value's name in the spec. */
const ArrayWithValue = ((spec: string, ...rest: unknown[]) =>
  named(spec, (names) => (Option.Array as (...a: unknown[]) => unknown)(names, ...rest))) as typeof Option.Array;

export const ValueOption = { String: StringWithValue, Array: ArrayWithValue };

/** The value name an option was declared with, if any. */
export function valueNameOf(definition: OptionDefinition): string | undefined {
  return VALUE_NAMES.get(definition);
}

export interface UsageText {
  usage: string;
  options: { definition: string }[];
}

/** Replaces clipanion's `#0` placeholders of the options in `definitions` with their value names. */
export function withValueNames<T extends UsageText>(text: T, definitions: readonly OptionDefinition[]): T {
  let usage = text.usage;
  const options = text.options.map((o) => ({ ...o }));
  for (const def of definitions) {
    const name = VALUE_NAMES.get(def);
    if (!name || def.arity !== 1) continue;
    const from = `${def.nameSet.join(",")} #0`;
    const to = `${def.nameSet.join(",")} <${name}>`;
    usage = usage.split(`[${from}]`).join(`[${to}]`).split(`<${from}>`).join(`<${to}>`);
    for (const o of options) if (o.definition === from) o.definition = to;
  }
  return { ...text, usage, options };
}
