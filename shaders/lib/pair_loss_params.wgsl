// The uniforms of the paired preference loss, shared by preference_loss_forward.wgsl and
// preference_loss_backward.wgsl (the host passes one set to both: src/engine/kernels/
// preference-loss.ts). Term t of PAIR_TERMS (src/engine/losses/terms.ts) has its weight in
// field w_<t>; the host builds those from PAIR_TERMS, so a term is added here and in terms.ts,
// and nowhere else on the host.

struct Params {
  B: u32,
  beta: f32,
  eps: f32,           // label_smoothing: robust, cdpo, simpo, aot, aot_unpaired
  exoEps: f32,        // ε of exo_pair, > 0
  tau: f32,           // discopop_tau
  gamma: f32,         // simpo_gamma
  refFree: u32,       // 1: no reference log-probs (taken as 0); rewards / logps metrics from averages
  fdiv: u32,          // f_divergence_type: 0 reverse_kl, 1 forward_kl, 2 js_divergence, 3 alpha_divergence
  fAlpha: f32,        // f_alpha_divergence_coef (fdiv 3; never 1: the host sends α = 1 as fdiv 0)
  weighted: u32,      // 1: use_weighting, every pair's loss times weights[i]
  dloss: f32,         // backward: gradient of the training objective by the batch-mean loss
  w_sigmoid: f32,
  w_hinge: f32,
  w_ipo: f32,
  w_robust: f32,
  w_exo_pair: f32,
  w_nca_pair: f32,
  w_bco_pair: f32,
  w_sppo_hard: f32,
  w_apo_zero: f32,
  w_apo_down: f32,
  w_discopop: f32,
  w_sigmoid_norm: f32,
  w_cdpo: f32,
  w_simpo: f32,
  w_orpo: f32,
  w_aot: f32,
  w_aot_unpaired: f32,
  w_sft: f32,
}
