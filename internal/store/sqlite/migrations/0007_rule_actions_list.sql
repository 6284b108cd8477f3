-- 0007_rule_actions_list: the audit list (Actions) reads rule_actions newest
-- first by id and applies the rule and study filters as it goes; it never
-- used these two indexes, which every decision paid for (two more B-tree
-- insertions per action on the rules engine's single-writer path).
DROP INDEX rule_actions_rule;
DROP INDEX rule_actions_study;
