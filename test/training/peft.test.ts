// PEFT adapter files: safetensors written by hand, read back bit for bit; adapter_config.json.
import { describe, expect, it } from 'vitest';
import { adapterConfigJson, parseAdapterConfig, readSafetensors, writeSafetensors } from '../../src/engine/training/peft.js';
import { parseTrainingConfig } from '../../src/engine/training/config.js';
import { randn } from '../support/numeric.js';

describe('PEFT adapter files', () => {
  it('safetensors round trip, layout per the spec', () => {
    const tensors = [
      { name: 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight', shape: [4, 6], data: randn(24, 1) },
      { name: 'base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight', shape: [5, 4], data: randn(20, 2) },
      { name: 'odd', shape: [3], data: Float32Array.from([NaN, -0, Infinity]) },
    ];
    const bytes = writeSafetensors(tensors);
    const view = new DataView(bytes.buffer);
    const n = Number(view.getBigUint64(0, true));
    expect((8 + n) % 8).toBe(0);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
    expect(header.__metadata__).toEqual({ format: 'pt' });
    expect(header[tensors[1]!.name]).toEqual({ dtype: 'F32', shape: [5, 4], data_offsets: [96, 176] });
    expect(bytes.length).toBe(8 + n + 4 * (24 + 20 + 3));
    const back = readSafetensors(bytes);
    for (const t of tensors) {
      const r = back.tensors.get(t.name)!;
      expect(r.shape).toEqual(t.shape);
      expect(new Uint32Array(r.data.buffer)).toEqual(new Uint32Array(t.data.buffer));
    }
  });

  it('reads F16 and refuses broken files with the reason', () => {
    // A hand-made F16 file: 1.0 and -2.0.
    const header = new TextEncoder().encode(JSON.stringify({ x: { dtype: 'F16', shape: [2], data_offsets: [0, 4] } }));
    const bytes = new Uint8Array(8 + header.length + 4);
    const view = new DataView(bytes.buffer);
    view.setBigUint64(0, BigInt(header.length), true);
    bytes.set(header, 8);
    view.setUint16(8 + header.length, 0x3c00, true);
    view.setUint16(8 + header.length + 2, 0xc000, true);
    expect(Array.from(readSafetensors(bytes).tensors.get('x')!.data)).toEqual([1, -2]);
    expect(() => readSafetensors(bytes.subarray(0, 10))).toThrow(/header says/);
    const hole = new TextEncoder().encode(JSON.stringify({ x: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }));
    const b2 = new Uint8Array(8 + hole.length + 8);
    new DataView(b2.buffer).setBigUint64(0, BigInt(hole.length), true);
    b2.set(hole, 8);
    expect(() => readSafetensors(b2)).toThrow(/no holes/);
  });

  it('adapter_config.json as PEFT writes it, and back', () => {
    const lora = parseTrainingConfig({ method: 'dpo', lora: { r: 4, lora_alpha: 16, lora_dropout: 0.05, use_rslora: true } }).lora;
    const text = adapterConfigJson(lora, 'demo-fortunes', ['v_proj', 'q_proj']);
    const j = JSON.parse(text);
    expect(j).toMatchObject({ peft_type: 'LORA', task_type: 'CAUSAL_LM', r: 4, lora_alpha: 16, lora_dropout: 0.05, use_rslora: true, bias: 'none', target_modules: ['q_proj', 'v_proj'], base_model_name_or_path: 'demo-fortunes' });
    expect(parseAdapterConfig(text)).toEqual({ lora: { ...lora, target_modules: ['q_proj', 'v_proj'] }, baseModel: 'demo-fortunes', fanInFanOut: false });
    expect(JSON.parse(adapterConfigJson(lora, 'gpt2', ['c_attn'], true)).fan_in_fan_out).toBe(true);
    expect(() => parseAdapterConfig(JSON.stringify({ ...j, use_dora: true }))).toThrow(/use_dora/);
    expect(() => parseAdapterConfig(JSON.stringify({ ...j, peft_type: 'IA3' }))).toThrow(/peft_type/);
    expect(() => parseAdapterConfig(JSON.stringify({ ...j, target_modules: ['foo'] }))).toThrow(/target_modules names "foo"/);
  });
});
