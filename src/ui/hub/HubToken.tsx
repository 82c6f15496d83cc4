// The Hugging Face access token field: pasted by the person, kept in memory only unless they tick
// "keep on this device"; never shown back in clear, logged or put into a download.
import { useHubStore } from '../../stores/hub.js';
import './hub.css';

export function HubToken({ purpose }: { purpose: string }) {
  const token = useHubStore((s) => s.token);
  const keep = useHubStore((s) => s.keep);
  const setToken = useHubStore((s) => s.setToken);
  const setKeep = useHubStore((s) => s.setKeep);
  return (
    <div className="field">
      <span>Access token</span>
      <input type="password" value={token} placeholder="hf_…" autoComplete="off" spellCheck={false} onChange={(e) => setToken(e.target.value.trim())} data-testid="hub-token" />
      <label className="hub-keep">
        <input type="checkbox" checked={keep} onChange={(e) => setKeep(e.target.checked)} data-testid="hub-token-keep" /> Keep on this device
      </label>
      <small className="hint">{purpose} Kept in this tab's memory only, unless you tick the box; sent to huggingface.co only.</small>
    </div>
  );
}
