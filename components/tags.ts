/**
 * Tags every taggable AWS resource carries. They are passed explicitly on each resource
 * (not as provider default tags) so that they are visible in `pulumi preview` diffs and to
 * the unit tests, and so that a resource keeps them whatever provider it is created with.
 */
export interface BaseTags {
  /** The Pulumi project, e.g. `co-intelligence`. */
  project: string;
  /** The Pulumi stack, e.g. `dev`. */
  stack: string;
}

/** The base tags plus the component that owns the resource. */
export function componentTags(base: BaseTags, component: string): Record<string, string> {
  return { project: base.project, stack: base.stack, component };
}
