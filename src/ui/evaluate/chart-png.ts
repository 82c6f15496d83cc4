// A metric chart drawn straight onto a canvas, for the run report's PNG images (the live uPlot
// charts follow the page's layout; a report wants the same size every time).
import type { StepMetrics } from '../../engine/training/trainer.js';

export interface PngSeries {
  label: string;
  color: string;
  metrics: readonly StepMetrics[];
  key: string;
}

const W = 800;
const H = 400;
const PAD = { left: 70, right: 20, top: 40, bottom: 40 };

export async function chartPng(title: string, series: readonly PngSeries[]): Promise<Uint8Array> {
  const canvas = document.createElement('canvas');
  canvas.width = W;
  canvas.height = H;
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('this browser cannot draw on a canvas');
  const points = series.map((s) => s.metrics.flatMap((m) => {
    const v = (m as Record<string, number | undefined>)[s.key];
    return v !== undefined && Number.isFinite(v) ? [[m.step, v] as const] : [];
  }));
  const all = points.flat();
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  const [x0, x1] = xs.length ? [Math.min(...xs), Math.max(...xs)] : [0, 1];
  let [y0, y1] = ys.length ? [Math.min(...ys), Math.max(...ys)] : [0, 1];
  if (y0 === y1) [y0, y1] = [y0 - 1, y1 + 1];
  const px = (x: number) => PAD.left + ((x - x0) / (x1 - x0 || 1)) * (W - PAD.left - PAD.right);
  const py = (y: number) => H - PAD.bottom - ((y - y0) / (y1 - y0)) * (H - PAD.top - PAD.bottom);

  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, W, H);
  ctx.strokeStyle = '#ccc';
  ctx.fillStyle = '#333';
  ctx.font = '13px sans-serif';
  ctx.strokeRect(PAD.left, PAD.top, W - PAD.left - PAD.right, H - PAD.top - PAD.bottom);
  for (let i = 0; i <= 4; i++) {
    const y = y0 + ((y1 - y0) * i) / 4;
    ctx.fillText(y.toPrecision(3), 8, py(y) + 4);
    const x = x0 + ((x1 - x0) * i) / 4;
    ctx.fillText(String(Math.round(x)), px(x) - 8, H - PAD.bottom + 18);
  }
  ctx.font = 'bold 15px sans-serif';
  ctx.fillText(title, PAD.left, 24);
  ctx.font = '13px sans-serif';
  series.forEach((s, i) => {
    ctx.strokeStyle = s.color;
    ctx.lineWidth = 2;
    ctx.beginPath();
    points[i]!.forEach(([x, y], k) => (k === 0 ? ctx.moveTo(px(x), py(y)) : ctx.lineTo(px(x), py(y))));
    ctx.stroke();
    ctx.fillStyle = s.color;
    ctx.fillText(s.label, W - PAD.right - 200, PAD.top + 16 + 16 * i);
  });
  ctx.fillStyle = '#333';
  ctx.fillText('step', W / 2, H - 6);
  const blob = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, 'image/png'));
  if (!blob) throw new Error('the chart could not be turned into a PNG');
  return new Uint8Array(await blob.arrayBuffer());
}
