// Workgroup counts for 1-D launches larger than one grid dimension allows: the kernel
// reconstructs the flat index as gid.x + gid.y * num_workgroups.x * WG.

export const MAX_WORKGROUPS_PER_DIM = 65535;

export function grid1d(n: number, workgroupSize: number): [number, number] {
  const groups = Math.ceil(n / workgroupSize);
  if (groups <= MAX_WORKGROUPS_PER_DIM) return [groups, 1];
  const y = Math.ceil(groups / MAX_WORKGROUPS_PER_DIM);
  return [Math.ceil(groups / y), y];
}

export function ceilDiv(a: number, b: number): number {
  return Math.ceil(a / b);
}
