// Small line icons (20×20, currentColor), inline so the app loads nothing from elsewhere.
import type { ReactNode, SVGProps } from 'react';

export type IconProps = SVGProps<SVGSVGElement>;

function Icon({ children, ...props }: IconProps & { children: ReactNode }) {
  return (
    <svg
      viewBox="0 0 20 20"
      width="20"
      height="20"
      fill="none"
      stroke="currentColor"
      strokeWidth="1.6"
      strokeLinecap="round"
      strokeLinejoin="round"
      aria-hidden="true"
      focusable="false"
      {...props}
    >
      {children}
    </svg>
  );
}

export const ModelsIcon = (p: IconProps) => (
  <Icon {...p}>
    <path d="M10 2.5 3.5 6v8l6.5 3.5 6.5-3.5V6z" />
    <path d="M3.5 6 10 9.5 16.5 6M10 9.5v8" />
  </Icon>
);

export const DataIcon = (p: IconProps) => (
  <Icon {...p}>
    <ellipse cx="10" cy="5" rx="6" ry="2.5" />
    <path d="M4 5v10c0 1.4 2.7 2.5 6 2.5s6-1.1 6-2.5V5" />
    <path d="M4 10c0 1.4 2.7 2.5 6 2.5s6-1.1 6-2.5" />
  </Icon>
);

export const LabelIcon = (p: IconProps) => (
  <Icon {...p}>
    <rect x="2.5" y="4" width="6.5" height="12" rx="1.5" />
    <rect x="11" y="4" width="6.5" height="12" rx="1.5" />
    <path d="m12.7 10.2 1.4 1.4 2.2-2.8" />
  </Icon>
);

export const TrainIcon = (p: IconProps) => (
  <Icon {...p}>
    <path d="M2.5 15.5 7 10l3 3 6.5-8" />
    <path d="M12.5 5h4v4" />
  </Icon>
);

export const LoopIcon = (p: IconProps) => (
  <Icon {...p}>
    <path d="M15.5 8A6 6 0 0 0 4.8 6.2" />
    <path d="M4.5 3v3.5H8" />
    <path d="M4.5 12a6 6 0 0 0 10.7 1.8" />
    <path d="M15.5 17v-3.5H12" />
  </Icon>
);

export const EvaluateIcon = (p: IconProps) => (
  <Icon {...p}>
    <path d="M5 15.5V10M10 15.5V4.5M15 15.5v-7" />
    <path d="M2.5 17.5h15" />
  </Icon>
);

export const ExportIcon = (p: IconProps) => (
  <Icon {...p}>
    <path d="M10 3v10M6 9l4 4 4-4" />
    <path d="M4 16.5h12" />
  </Icon>
);

export const ChipIcon = (p: IconProps) => (
  <Icon {...p}>
    <rect x="5" y="5" width="10" height="10" rx="1.5" />
    <rect x="8" y="8" width="4" height="4" rx="0.5" />
    <path d="M8 2.5V5M12 2.5V5M8 15v2.5M12 15v2.5M2.5 8H5M2.5 12H5M15 8h2.5M15 12h2.5" />
  </Icon>
);

export const ChevronDownIcon = (p: IconProps) => (
  <Icon {...p}>
    <path d="m6 8 4 4 4-4" />
  </Icon>
);

export const WarningIcon = (p: IconProps) => (
  <Icon {...p}>
    <path d="M10 3 2.5 16.5h15z" />
    <path d="M10 8.5v3.5M10 14.2v.1" />
  </Icon>
);

export const CloseIcon = (p: IconProps) => (
  <Icon {...p}>
    <path d="m5.5 5.5 9 9M14.5 5.5l-9 9" />
  </Icon>
);

export const ShieldIcon = (p: IconProps) => (
  <Icon {...p}>
    <path d="M10 2.5 4 5v5c0 3.6 2.6 6.4 6 7.5 3.4-1.1 6-3.9 6-7.5V5z" />
    <path d="m7.5 10 1.8 1.8 3.2-3.6" />
  </Icon>
);

export const LogoMark = (p: IconProps) => (
  <svg viewBox="0 0 32 32" width="28" height="28" aria-hidden="true" focusable="false" {...p}>
    <rect width="32" height="32" rx="8" className="logo-bg" />
    <path
      d="M9 22V10h6.5a4 4 0 0 1 0 8H9"
      fill="none"
      stroke="#fff"
      strokeWidth="2.6"
      strokeLinecap="round"
      strokeLinejoin="round"
    />
    <circle cx="22.5" cy="21.5" r="2.5" className="logo-dot" />
  </svg>
);
