import { formatBytes } from "../format";
import { useUsage } from "./usage";
import "./UsageMeter.css";

/**
 * How much of the storage quota the caller's documents take: the text
 * "<used> of <quota> used" with a meter beside it.
 */
export function UsageMeter() {
  const { usage, error } = useUsage();
  if (!usage) {
    return error ? <p className="usage-meter usage-meter-error">Storage use unknown: {error}</p> : null;
  }
  const { bytes, quota_bytes: quota, documents } = usage;
  const label = `${formatBytes(bytes)} of ${formatBytes(quota)} used`;
  return (
    <div className="usage-meter">
      <meter min={0} max={quota} value={bytes} high={quota * 0.9} optimum={0} aria-label="Storage used" />
      <p>
        {label}
        <span className="usage-meter-count">
          {" "}
          ({documents === 1 ? "1 document" : `${documents} documents`})
        </span>
      </p>
    </div>
  );
}
