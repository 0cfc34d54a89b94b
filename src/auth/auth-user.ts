/** The authenticated caller, set on `request.user` by the auth middleware. */
export interface AuthUser {
  /** The JWT `sub` claim. */
  id: string;
  roles: string[];
  /** The JWT `plan` claim (`free` when absent). */
  plan: string;
}
