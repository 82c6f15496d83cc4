// Model facts as people read them.

/** 1_050_000 → "1.05M", 1_100_000_000 → "1.1B", 950 → "950". */
export function formatParameters(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '—';
  const units: [number, string][] = [
    [1e9, 'B'],
    [1e6, 'M'],
    [1e3, 'K'],
  ];
  for (const [size, suffix] of units) {
    if (n >= size) {
      const v = n / size;
      return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)}${suffix}`.replace(/\.?0+(?=[KMB]$)/, '');
    }
  }
  return String(n);
}

/** "llama" → "Llama", "qwen2" → "Qwen2", "gpt2" → "GPT-2", "phi3" → "Phi-3", ... */
export function formatArchitecture(family: string): string {
  const known: Record<string, string> = {
    llama: 'Llama', mistral: 'Mistral', qwen2: 'Qwen2', qwen3: 'Qwen3', gemma2: 'Gemma 2', gemma3: 'Gemma 3',
    phi3: 'Phi-3', olmo2: 'OLMo 2', gpt2: 'GPT-2',
  };
  return known[family] ?? family;
}
