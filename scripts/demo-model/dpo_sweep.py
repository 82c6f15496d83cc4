"""PyTorch sweep of the demo DPO recipe (BENCHMARKS.md, "Demo learning check"): held-out preference
accuracy / margin after N steps, per seed, for the configurations given as JSON.

    npx tsx scripts/demo-model/dump-examples.ts     # the tokenised examples, as prefstudio train makes them
    /usr/bin/python3 scripts/demo-model/dpo_sweep.py '[{"L": 32, "lr": 5e-3, "steps": 40, "bs": 8, "r": 8, "alpha": 16}]'
"""
import json, math, sys, random, time
from pathlib import Path
HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import torch, torch.nn as nn, torch.nn.functional as F
from build_demo_dataset import load_exported
torch.set_num_threads(1)
model, _, _ = load_exported()
for p in model.parameters(): p.requires_grad_(False)
TARGETS = ['q_proj','k_proj','v_proj','o_proj','gate_proj','up_proj','down_proj']

class Lora(nn.Module):
    def __init__(s, base, r, alpha, g):
        super().__init__(); s.base = base; s.s = alpha / r; s.on = True
        s.A = nn.Parameter(torch.empty(r, base.in_features)); nn.init.kaiming_uniform_(s.A, a=math.sqrt(5), generator=g) if 'generator' in nn.init.kaiming_uniform_.__code__.co_varnames else nn.init.kaiming_uniform_(s.A, a=math.sqrt(5))
        s.B = nn.Parameter(torch.zeros(base.out_features, r))
    def forward(s, x):
        y = s.base(x)
        return y + s.s * (x @ s.A.T) @ s.B.T if s.on else y

def attach(r, alpha, targets, seed):
    torch.manual_seed(seed)
    loras = []
    for layer in model.model.layers:
        for mod in (layer.self_attn, layer.mlp):
            for n in targets:
                if hasattr(mod, n):
                    b = getattr(mod, n); b = b.base if isinstance(b, Lora) else b
                    l = Lora(b, r, alpha, None); setattr(mod, n, l); loras.append(l)
    return loras

def batch_logps(seqs):
    T = max(len(p)+len(c) for p,c in seqs)
    ids = torch.zeros(len(seqs), T, dtype=torch.long); mask = torch.zeros(len(seqs), T, dtype=torch.long); lab = torch.zeros(len(seqs), T, dtype=torch.bool)
    for i,(p,c) in enumerate(seqs):
        x = p+c; ids[i,:len(x)] = torch.tensor(x); mask[i,:len(x)] = 1; lab[i,len(p):len(x)] = True
    pos = torch.arange(T)[None].expand(len(seqs), T)
    logits, _ = model(ids, mask, pos)
    lp = F.log_softmax(logits[:, :-1].float(), -1).gather(-1, ids[:, 1:, None])[..., 0]
    return (lp * lab[:, 1:]).sum(-1)

def pairs_logps(exs):
    seqs = [s for e in exs for s in e['seqs']]
    lp = batch_logps(seqs)
    return lp[0::2], lp[1::2]

def run(L, lr, steps, bs, r, alpha, seed, beta=0.1, ntrain=None, targets=TARGETS):
    ex = json.load(open(HERE / '.cache' / f'ex{L}.json'))
    train = [e for e in ex if e['split']=='train']; test = [e for e in ex if e['split']=='test']
    rng = random.Random(seed); order = list(range(len(train))); rng.shuffle(order)
    if ntrain: order = order[:ntrain]
    loras = attach(r, alpha, targets, seed)
    def set_on(v):
        for l in loras: l.on = v
    with torch.no_grad():
        set_on(False); refc, refr = pairs_logps(test); set_on(True)
    params = [p for l in loras for p in (l.A, l.B)]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: max(0.0, (steps-k)/steps))
    i = 0
    for k in range(steps):
        b = []
        for _ in range(bs):
            b.append(train[order[i % len(order)]]); i += 1
        with torch.no_grad():
            set_on(False); rc, rr = pairs_logps(b); set_on(True)
        pc, pr = pairs_logps(b)
        loss = -F.logsigmoid(beta*((pc-rc)-(pr-rr))).mean()
        opt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_norm_(params, 1.0); opt.step(); sched.step()
    with torch.no_grad():
        pc, pr = pairs_logps(test)
        cr = beta*(pc-refc); rr_ = beta*(pr-refr)
        acc = (cr > rr_).float().mean().item(); marg = (cr-rr_).mean().item()
    # detach loras
    for layer in model.model.layers:
        for mod in (layer.self_attn, layer.mlp):
            for n in TARGETS:
                if hasattr(mod, n) and isinstance(getattr(mod, n), Lora): setattr(mod, n, getattr(mod, n).base)
    return acc, marg

configs = json.loads(sys.argv[1])
for c in configs:
    t = time.time()
    res = [run(**{**c, 'seed': s}) for s in c.pop('seeds', [1,2,3])]
    print(json.dumps(c), ' '.join(f'{a:.2f}/{m:.2f}' for a,m in res), f'{time.time()-t:.0f}s', flush=True)
