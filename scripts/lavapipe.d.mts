export function lavapipeIcd(): string | null;
export function installLavapipe(apt: string[]): string | null;
