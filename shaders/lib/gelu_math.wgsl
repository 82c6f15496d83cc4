// GELU math shared by gelu_forward.wgsl and gelu_backward.wgsl: Φ(x) (the standard normal CDF,
// with an f32 erf: WGSL has none), an overflow-free sigmoid and the tanh approximation's argument.
// The CPU twin src/engine/cpu/gelu.ts mirrors these step for step.

const SQRT_2_OVER_PI: f32 = 0.7978845608028654;
const SQRT1_2: f32 = 0.7071067811865476;
const INV_SQRT_2PI: f32 = 0.3989422804014327;

// erfc(a), a >= 0: Numerical Recipes' erfcc, relative error < 1.2e-7 (in exact arithmetic).
// a is capped at 10 (erfc(10) ~ 2e-45, zero in f32) so a·a cannot overflow.
fn erfc_tail(a_in: f32) -> f32 {
  let a = min(a_in, 10.0);
  let t = 1.0 / (1.0 + 0.5 * a);
  let p = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
          t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  return t * exp(-a * a + p);
}

// Φ(x) = ½(1 + erf(x/√2)): for |z| < 1 erf(z) = z·P(z²) (degree 6 fit, 1.2e-9 relative);
// beyond, 1 − erfc(|z|), and the left tail directly as ½·erfc(|z|) (no cancellation).
fn normal_cdf(x: f32) -> f32 {
  let z = x * SQRT1_2;
  if (z <= -1.0) {
    return 0.5 * erfc_tail(-z);
  }
  if (z >= 1.0) {
    return 1.0 - 0.5 * erfc_tail(z);
  }
  let s = z * z;
  let p = ((((((7.853857703525591e-5 * s - 0.000801019251950072) * s + 0.005188327559810232) * s
          - 0.02685381186896052) * s + 0.11283585147025668) * s - 0.37612625824092505) * s + 1.1283791657266893);
  return 0.5 + 0.5 * z * p;
}

// sigmoid(v) without overflow (exp only of non-positive arguments); ½(1 + tanh(u)) = sigmoid(2u),
// which keeps relative accuracy in the left tail where 1 + tanh(u) would cancel.
fn sigmoid(v: f32) -> f32 {
  let e = exp(-abs(v));
  let s = 1.0 / (1.0 + e);
  return select(e * s, s, v >= 0.0);
}

// u = √(2/π)(x + 0.044715 x³), capped at ±40 (sigmoid(±80) is 0 or 1 in f32) so x³ cannot
// overflow into inf.
fn tanh_arg(x: f32) -> f32 {
  return clamp(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x), -40.0, 40.0);
}
