import type { Engine } from '../gpu/engine.js';
import type { Tensor } from '../gpu/tensor.js';
import { grid1d } from './grid.js';

// out = inp1 + inp2
export function residualForward(engine: Engine, out: Tensor, inp1: Tensor, inp2: Tensor, N: number): void {
  engine.dispatch({ shader: 'residual_forward' }, { out, inp1, inp2 }, { N }, grid1d(N, 256));
}

// dinp1 += dout; dinp2 += dout
export function residualBackward(engine: Engine, dinp1: Tensor, dinp2: Tensor, dout: Tensor, N: number): void {
  engine.dispatch({ shader: 'residual_backward' }, { dinp1, dinp2, dout }, { N }, grid1d(N, 256));
}
