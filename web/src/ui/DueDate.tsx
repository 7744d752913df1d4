// An assignment's due date, marked when it is overdue or done.
import { formatWhen } from "../notes/NoteCard";

/** Whether an assignment that is not done is past its due date. */
export function isOverdue(due: string, done: boolean, now = Date.now()): boolean {
  return !done && new Date(due).getTime() < now;
}

/** "Due …", with "Overdue" or "Done" beside it. */
export function DueDate({ due, done }: { due: string; done: boolean }) {
  return (
    <span>
      Due <time dateTime={due}>{formatWhen(due)}</time>{" "}
      {isOverdue(due, done) && <span className="badge overdue">Overdue</span>}
      {done && <span className="badge done">Done</span>}
    </span>
  );
}
