// The one place where user Markdown becomes HTML. markdown-it runs with raw
// HTML off (every `<` in the source is escaped), links and images are kept only
// for http, https, mailto and relative addresses, and links open without
// handing the page a reference to this one.
import MarkdownIt from "markdown-it";
import { useMemo } from "react";

const SAFE_ADDRESS = /^(https?:|mailto:|[^:]*$)/i;

/** Whether an address may appear in rendered Markdown (no `javascript:`, `data:`, …). */
export function isSafeAddress(address: string): boolean {
  // Control characters and spaces inside a scheme are how filters get fooled: strip them first.
  const compact = address.replace(/[\u0000-\u0020\u007f-\u009f]/g, "");
  return SAFE_ADDRESS.test(compact) && !compact.startsWith("//");
}

const markdown = new MarkdownIt({ html: false, linkify: true, typographer: false, breaks: true });
markdown.validateLink = isSafeAddress;

const renderLinkOpen = markdown.renderer.rules.link_open;
markdown.renderer.rules.link_open = (tokens, index, options, env, self) => {
  const token = tokens[index];
  token.attrSet("rel", "noopener noreferrer");
  token.attrSet("target", "_blank");
  return renderLinkOpen ? renderLinkOpen(tokens, index, options, env, self) : self.renderToken(tokens, index, options);
};

/** Markdown source rendered as safe HTML (no raw HTML, no script addresses). */
export function renderMarkdown(source: string): string {
  return markdown.render(source);
}

/** Renders user Markdown safely; the only component that sets HTML from user text. */
export function Markdown({ source, className }: { source: string; className?: string }) {
  const html = useMemo(() => renderMarkdown(source), [source]);
  return <div className={className ?? "markdown"} dangerouslySetInnerHTML={{ __html: html }} />;
}
