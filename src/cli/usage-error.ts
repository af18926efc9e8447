// A mistake on the command line: its message is the one line the user sees (exit code 2).
export class UsageError extends Error {}
