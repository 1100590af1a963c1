/**
 * ECR's lifecycle policy evaluation as the ECR user guide documents it ("Lifecycle policy
 * evaluation rules"): all rules are evaluated, then applied by priority; an image is expired by
 * at most one rule; an image that matches the tagging requirements of a rule cannot be expired
 * by a rule of lower priority; a tag list selects images carrying a match for every entry;
 * `imageCountMoreThan` keeps the newest N (by push time) of what the rule selects;
 * `sinceImagePushed` expires what is older than N days. Only what the tests need: no storage
 * classes, no transitions.
 */
export interface Image {
  digest: string;
  tags: string[];
  pushedAt: Date;
}

interface Rule {
  rulePriority: number;
  selection: {
    tagStatus: "tagged" | "untagged" | "any";
    tagPatternList?: string[];
    tagPrefixList?: string[];
    countType: "imageCountMoreThan" | "sinceImagePushed";
    countNumber: number;
  };
}

const patternMatches = (pattern: string, tag: string) =>
  new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`).test(tag);

function selects(rule: Rule, image: Image): boolean {
  const { tagStatus, tagPatternList, tagPrefixList } = rule.selection;
  if (tagStatus === "any") return true;
  if (tagStatus === "untagged") return image.tags.length === 0;
  if (image.tags.length === 0) return false;
  if (tagPatternList) return tagPatternList.every((p) => image.tags.some((t) => patternMatches(p, t)));
  return (tagPrefixList ?? []).every((p) => image.tags.some((t) => t.startsWith(p)));
}

/** The digests the policy would expire now. */
export function expiredBy(policy: { rules: Rule[] }, images: Image[], now: Date): Set<string> {
  const rules = [...policy.rules].sort((a, b) => a.rulePriority - b.rulePriority);
  const expired = new Set<string>();
  const claimed = new Set<string>();
  for (const rule of rules) {
    const selected = images.filter((image) => selects(rule, image));
    const newestFirst = [...selected].sort((a, b) => b.pushedAt.getTime() - a.pushedAt.getTime());
    const candidates =
      rule.selection.countType === "imageCountMoreThan"
        ? newestFirst.slice(rule.selection.countNumber)
        : selected.filter(
            (i) => now.getTime() - i.pushedAt.getTime() > rule.selection.countNumber * 86_400_000,
          );
    for (const image of candidates) if (!claimed.has(image.digest)) expired.add(image.digest);
    // What matched this rule's tags is out of reach of every rule of lower priority.
    for (const image of selected) if (rule.selection.tagStatus !== "any") claimed.add(image.digest);
  }
  return expired;
}
