// The notebook: the views, the subjects and tags with their counts (each a
// filter of the notes list), the account and signing out (which asks first
// when changes made here have not been sent yet: signing out forgets them).
import { useEffect, useState } from "react";
import { api, call, type Schemas } from "../api/client";
import { Link, useRouter } from "../router";
import { useSession } from "../session";
import { useSync } from "../sync";
import { ConfirmDialog } from "../ui/ConfirmDialog";
import { waitingText } from "./SyncStatus";

type NameCount = Schemas["NameCount"];

const views = [
  { to: "/", label: "Notes" },
  { to: "/upcoming", label: "Upcoming" },
  { to: "/archive", label: "Archive" },
  { to: "/trash", label: "Trash" },
  { to: "/account", label: "Account" },
];

/** The sidebar navigation ("Notebook"). */
export function Sidebar() {
  const { pathname, search } = useRouter();
  const { signOut } = useSession();
  const { waiting } = useSync().outbox;
  const [confirming, setConfirming] = useState(false);
  const { subjects, tags } = useCatalogue();
  const here = pathname + search;

  return (
    <nav id="notebook" className="sidebar" aria-label="Notebook">
      <ul>
        {views.map((view) => (
          <li key={view.to}>
            <Link to={view.to} aria-current={here === view.to ? "page" : undefined}>
              {view.label}
            </Link>
          </li>
        ))}
      </ul>
      <FilterGroup title="Subjects" param="subject" items={subjects} here={here} />
      <FilterGroup title="Tags" param="tag" items={tags} here={here} />
      <div className="account-actions">
        <button type="button" onClick={() => (waiting > 0 ? setConfirming(true) : void signOut())}>
          Sign out
        </button>
      </div>
      <ConfirmDialog
        open={confirming}
        title="Sign out before your changes are sent?"
        confirmLabel="Sign out and discard them"
        onCancel={() => setConfirming(false)}
        onConfirm={() => {
          setConfirming(false);
          void signOut();
        }}
      >
        <p>
          {waitingText(waiting)} Signing out removes them and the notes kept for offline use from this device.
        </p>
      </ConfirmDialog>
    </nav>
  );
}

function FilterGroup(props: { title: string; param: "subject" | "tag"; items: NameCount[] | null; here: string }) {
  const id = `filter-${props.param}`;
  return (
    <div role="group" aria-labelledby={id}>
      <h2 id={id}>{props.title}</h2>
      {props.items && props.items.length === 0 && <p className="hint">None yet</p>}
      <ul>
        {props.items?.map((item) => {
          const to = `/?${props.param}=${encodeURIComponent(item.name)}`;
          return (
            <li key={item.name}>
              <Link to={to} aria-current={props.here === to ? "page" : undefined}>
                <span>{item.name}</span> <span className="count">{item.notes}</span>
              </Link>
            </li>
          );
        })}
      </ul>
    </div>
  );
}

/** The subjects and tags with their counts, read again whenever notes changed. */
function useCatalogue() {
  const { revision } = useSync();
  const [subjects, setSubjects] = useState<NameCount[] | null>(null);
  const [tags, setTags] = useState<NameCount[] | null>(null);

  useEffect(() => {
    let current = true;
    Promise.all([call(() => api.GET("/v1/subjects")), call(() => api.GET("/v1/tags"))]).then(
      ([subjectList, tagList]) => {
        if (!current) return;
        setSubjects(subjectList.items);
        setTags(tagList.items);
      },
      () => undefined,
    );
    return () => {
      current = false;
    };
  }, [revision]);

  return { subjects, tags };
}
