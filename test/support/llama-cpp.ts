// Real llama.cpp for the export tests, through node-llama-cpp (pinned to 3.21.1 in package.json).
// Its prebuilt CPU binary ships inside the npm package (@node-llama-cpp/linux-x64 and the other
// platform packages); package.json's config.nodeLlamaCppPostinstall = "skip" keeps its postinstall
// from probing, downloading or building anything, and here `build: 'never'` + `skipDownload`
// make it use that prebuilt binary or fail. A machine it cannot run on fails the tests with the
// reason: they are never skipped.
import type { Llama } from 'node-llama-cpp';

let llama: Promise<Llama> | null = null;

/** llama.cpp on the CPU, or an error that says why it cannot run here. */
export function llamaCpp(): Promise<Llama> {
  llama ??= (async () => {
    let mod: typeof import('node-llama-cpp');
    try {
      mod = await import('node-llama-cpp');
    } catch (e) {
      throw new Error(`node-llama-cpp is not installed (npm ci installs it from package.json): ${(e as Error).message}`);
    }
    try {
      return await mod.getLlama({ gpu: false, build: 'never', usePrebuiltBinaries: true, skipDownload: true, progressLogs: false, logLevel: mod.LlamaLogLevel.error });
    } catch (e) {
      throw new Error(
        `llama.cpp (node-llama-cpp 3.21.1's prebuilt binary for ${process.platform}-${process.arch}) cannot run on this machine, so the GGUF exports cannot be checked here: ${(e as Error).message}`,
      );
    }
  })();
  return llama;
}

/** Releases llama.cpp (the process may not exit otherwise). */
export async function disposeLlamaCpp(): Promise<void> {
  const l = llama;
  llama = null;
  if (l) await (await l.catch(() => null))?.dispose();
}
