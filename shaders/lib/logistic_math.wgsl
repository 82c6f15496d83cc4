// log1p, expm1 (WGSL has neither) and the logistic functions built on them, without overflow or
// cancellation. Used by lib/pair_loss.wgsl (preference_loss_forward.wgsl and
// preference_loss_backward.wgsl); their CPU twin src/engine/cpu/preference-loss.ts uses
// Math.log1p / Math.expm1 in float64.

const LN2: f32 = 0.6931471805599453;

// log(1 + x), x > -1, accurate near 0: 2·atanh(s) with s = x / (2 + x), |s| <= 1/3 on
// [-0.5, 1], as its series to s^15 (truncation < 2e-9 relative); plain log elsewhere.
fn log1p_(x: f32) -> f32 {
  if (x < -0.5 || x > 1.0) {
    return log(1.0 + x);
  }
  let s = x / (2.0 + x);
  let s2 = s * s;
  let q = 1.0 + s2 * (1.0 / 3.0 + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0
        + s2 * (1.0 / 11.0 + s2 * (1.0 / 13.0 + s2 * (1.0 / 15.0)))))));
  return 2.0 * s * q;
}

// exp(x) - 1 without cancellation near 0: Taylor to x^9/9! for |x| < 0.5 (truncation < 6e-10
// relative).
fn expm1_(x: f32) -> f32 {
  if (abs(x) >= 0.5) {
    return exp(x) - 1.0;
  }
  return x * (1.0 + x * (1.0 / 2.0 + x * (1.0 / 6.0 + x * (1.0 / 24.0 + x * (1.0 / 120.0
        + x * (1.0 / 720.0 + x * (1.0 / 5040.0 + x * (1.0 / 40320.0 + x * (1.0 / 362880.0)))))))));
}

// log(1 - exp(x)) for x < 0 (Mächler's split at -ln 2).
fn log1m_exp(x: f32) -> f32 {
  if (x > -LN2) {
    return log(-expm1_(x));
  }
  return log1p_(-exp(x));
}

// log σ(x) = min(x, 0) - log(1 + exp(-|x|)): never overflows.
fn log_sigmoid(x: f32) -> f32 {
  return min(x, 0.0) - log1p_(exp(-abs(x)));
}

fn sigmoid(x: f32) -> f32 {
  let e = exp(-abs(x));
  return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0);
}

// σ'(x) = σ(x)·σ(-x)
fn sigmoid_grad(x: f32) -> f32 {
  let e = exp(-abs(x));
  return e / ((1.0 + e) * (1.0 + e));
}
