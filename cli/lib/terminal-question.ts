// One question at a time on the terminal: the text on stderr, a line read from stdin (cooked, so the person can
// correct a typo before Enter). Ctrl-C while asking is passed on as cc's interrupt (the task is cancelled, as
// anywhere else in `cc run`); a question withdrawn meanwhile (answered elsewhere) leaves the line clean.
import { createInterface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import type { Question } from "./permission-prompter.js";

export function terminalQuestion(stdin: Readable, stderr: Writable, onInterrupt: () => void): Question {
  return {
    ask(text, signal) {
      return new Promise((resolve) => {
        if (signal.aborted) return resolve(undefined);
        const rl = createInterface({ input: stdin, output: stderr, terminal: true });
        let done = false;
        const finish = (answer: string | undefined) => {
          if (done) return;
          done = true;
          signal.removeEventListener("abort", onAbort);
          rl.close();
          // Nothing else reads stdin: let it stop keeping the process alive.
          stdin.pause();
          resolve(answer);
        };
        const onAbort = () => {
          stderr.write("\n");
          finish(undefined);
        };
        signal.addEventListener("abort", onAbort, { once: true });
        rl.on("SIGINT", () => {
          stderr.write("\n");
          finish(undefined);
          onInterrupt();
        });
        rl.on("close", () => finish(undefined));
        rl.question(text, (answer) => finish(answer));
      });
    },
  };
}
