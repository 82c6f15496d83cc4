// CPU twin of shaders/gelu_{forward,backward}.wgsl: gelu(x) = x · Φ(x) elementwise over N values,
// in two variants:
//   'tanh': Φ(x) ≈ ½(1 + tanh(√(2/π)(x + 0.044715 x³))) (GPT-2 gelu_new, onnxruntime FastGelu)
//   'erf':  Φ(x) = ½(1 + erf(x/√2)) exactly, with erf from erfApprox below (WGSL has no erf; the
//           shader uses the same approximation in f32).
// Takes Float32Array or Float64Array (finite differences).

export type FloatArray = Float32Array | Float64Array;
export type GeluVariant = 'tanh' | 'erf';

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/**
 * erf(z)/z on |z| < 1 as a polynomial in z² (degree 6, fitted for relative error on Chebyshev
 * nodes; 1.2e-9 relative in float64).
 */
const ERF_SMALL = [
  1.1283791657266893, -0.37612625824092505, 0.11283585147025668, -0.02685381186896052,
  0.005188327559810232, -0.000801019251950072, 7.853857703525591e-5,
];

/**
 * erfc(a) for a >= 0: Numerical Recipes' erfcc (Chebyshev fit, W. H. Press et al.), relative
 * error < 1.2e-7 everywhere, so the far tail of Φ keeps its relative accuracy.
 */
export function erfcApprox(a: number): number {
  const t = 1 / (1 + 0.5 * a);
  const p =
    -1.26551223 +
    t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 +
    t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  return t * Math.exp(-a * a + p);
}

/** erf(z): the polynomial for |z| < 1 (relative accuracy near 0), 1 − erfc(|z|) beyond. */
export function erfApprox(z: number): number {
  const a = Math.abs(z);
  if (a < 1) {
    const s = z * z;
    let p = ERF_SMALL[6]!;
    for (let k = 5; k >= 0; k--) p = p * s + ERF_SMALL[k]!;
    return z * p;
  }
  const e = 1 - erfcApprox(a);
  return z < 0 ? -e : e;
}

/** Φ(x) = ½(1 + erf(x/√2)); the left tail as ½·erfc(|z|) to avoid cancelling 1 − erf. */
export function normalCdfApprox(x: number): number {
  const z = x * Math.SQRT1_2;
  if (z <= -1) return 0.5 * erfcApprox(-z);
  return 0.5 * (1 + erfApprox(z));
}

export function geluCpu(x: number, variant: GeluVariant): number {
  if (variant === 'tanh') return 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)));
  return x * normalCdfApprox(x);
}

/** d gelu / dx. */
export function geluGradCpu(x: number, variant: GeluVariant): number {
  if (variant === 'tanh') {
    const th = Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x));
    const du = SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x);
    return 0.5 * (1 + th) + 0.5 * x * (1 - th * th) * du;
  }
  // Φ(x) + x·φ(x), φ the standard normal density.
  return normalCdfApprox(x) + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x);
}

export function geluForwardCpu(
  out: FloatArray, // (N)
  inp: FloatArray, // (N)
  N: number,
  variant: GeluVariant,
): void {
  for (let i = 0; i < N; i++) out[i] = geluCpu(inp[i]!, variant);
}

/** dinp = dout · gelu'(inp), assigned. */
export function geluBackwardCpu(
  dinp: FloatArray, // (N)
  dout: FloatArray, // (N)
  inp: FloatArray, // (N)
  N: number,
  variant: GeluVariant,
): void {
  for (let i = 0; i < N; i++) dinp[i] = dout[i]! * geluGradCpu(inp[i]!, variant);
}
