{{ENABLE_F16}}
// The adapter's ceiling, arithmetic (bench/peak.ts; not used by the engine): fused multiply-adds
// with no memory traffic. Each thread runs 8 independent vec4 chains (enough to hide FMA
// latency), params.iters rounds of 4 x 8 vec4 fma = 256 flops per round, and writes one sum so
// the compiler cannot drop the work. FLOPs = threads · iters · 256.
//
// Four steps per round, not one: a CPU adapter pays for each round of a loop (lavapipe: the loop
// counter, the exit test, and a masked blend of every variable the loop carries, ~50
// instructions for 8 vec4 chains), so one step per round measured the loop more than the
// arithmetic: 0.55-0.7x the rate of this loop on lavapipe (BENCHMARKS.md). GPUs unroll either.
//
// Placeholders: {{ENABLE_F16}} `enable f16;` for f16, else empty; {{T}} f32 or f16.

struct Params {
  iters: u32,
  seed: f32,
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;  // (threads)
@group(0) @binding(1) var<uniform> params: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  let s = {{T}}(params.seed);
  // Multipliers just below 1 and small addends keep every chain finite for any iteration count.
  let m = vec4<{{T}}>(s * {{T}}(0.999), s * {{T}}(0.998), s * {{T}}(0.997), s * {{T}}(0.996));
  let c = vec4<{{T}}>({{T}}(0.001) * {{T}}(i % 7u));
  var a0 = vec4<{{T}}>({{T}}(1.0));
  var a1 = a0 + c;
  var a2 = a1 + c;
  var a3 = a2 + c;
  var a4 = a3 + c;
  var a5 = a4 + c;
  var a6 = a5 + c;
  var a7 = a6 + c;
  for (var k = 0u; k < params.iters; k++) {
    for (var u = 0u; u < 4u; u++) {
      a0 = fma(a0, m, c);
      a1 = fma(a1, m, c);
      a2 = fma(a2, m, c);
      a3 = fma(a3, m, c);
      a4 = fma(a4, m, c);
      a5 = fma(a5, m, c);
      a6 = fma(a6, m, c);
      a7 = fma(a7, m, c);
    }
  }
  let v = (a0 + a1) + (a2 + a3) + (a4 + a5) + (a6 + a7);
  out[i] = f32(v.x + v.y + v.z + v.w);
}
