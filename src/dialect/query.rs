//! Subqueries (EXISTS, IN, scalar): `SELECT items FROM tables [WHERE] [GROUP BY] [HAVING]`.

use sqlparser::ast::{GroupByExpr, ObjectNamePart, Query, Select, SelectItem, SetExpr, TableFactor};

use super::Ty;
use super::emit::{Emitter, R};

impl Emitter<'_> {
    /// A subquery: `SELECT items FROM tables [WHERE] [GROUP BY] [HAVING]`, nothing else.
    pub(super) fn query(&mut self, q: &Query) -> R<(String, Ty)> {
        let plain = q.with.is_none()
            && q.order_by.is_none()
            && q.limit_clause.is_none()
            && q.fetch.is_none()
            && q.locks.is_empty()
            && q.for_clause.is_none()
            && q.settings.is_none()
            && q.format_clause.is_none()
            && q.pipe_operators.is_empty();
        let SetExpr::Select(s) = &*q.body else {
            return Err(self.no(format!("the subquery ({q})"), "only a plain SELECT is translated"));
        };
        if !plain || !plain_select(s) {
            return Err(self.no(
                format!("the subquery ({q})"),
                "only SELECT ... FROM tables [WHERE] [GROUP BY] [HAVING] is translated",
            ));
        }
        let d = self.d();
        let mut scope = Vec::new();
        let mut from = Vec::new();
        for twj in &s.from {
            if !twj.joins.is_empty() {
                return Err(self.no("a JOIN in a subquery", "not translated yet; use EXISTS or IN"));
            }
            let TableFactor::Table { name, alias, args: None, with_hints, version: None, partitions, .. } =
                &twj.relation
            else {
                return Err(self.no(format!("FROM {}", twj.relation), "only plain tables are translated"));
            };
            let [ObjectNamePart::Identifier(tid)] = name.0.as_slice() else {
                return Err(self.no(format!("FROM {name}"), "only tables of the database, by one name, are translated"));
            };
            if !with_hints.is_empty() || !partitions.is_empty() {
                return Err(self.no(format!("FROM {name}"), "table hints are not translated"));
            }
            let table = self
                .t
                .catalog
                .table_name(&tid.value)
                .ok_or_else(|| self.no(format!("FROM {name}"), "no such table"))?
                .to_string();
            match alias {
                Some(a) if a.columns.is_empty() => {
                    scope.push((a.name.value.to_ascii_lowercase(), table.clone()));
                    from.push(format!("{} AS {}", d.ident(&table), d.ident(&a.name.value.to_ascii_lowercase())));
                }
                Some(_) => return Err(self.no(format!("FROM {name}"), "column aliases are not translated")),
                None => {
                    scope.push((table.to_ascii_lowercase(), table.clone()));
                    from.push(d.ident(&table));
                }
            }
        }
        self.scopes.push(scope);
        let out = self.select_body(s, &from);
        self.scopes.pop();
        out
    }

    fn select_body(&mut self, s: &Select, from: &[String]) -> R<(String, Ty)> {
        let mut items = Vec::new();
        let mut ty = Ty::Unknown;
        for item in &s.projection {
            match item {
                SelectItem::UnnamedExpr(x) => {
                    let v = self.value(x)?;
                    ty = v.ty;
                    items.push(v.sql);
                }
                SelectItem::ExprWithAlias { expr, .. } => {
                    let v = self.value(expr)?;
                    ty = v.ty;
                    items.push(v.sql);
                }
                SelectItem::Wildcard(_) if s.projection.len() == 1 => items.push("*".into()),
                other => return Err(self.no(format!("SELECT {other}"), "not translated")),
            }
        }
        let mut sql = format!("SELECT {}", items.join(", "));
        if !from.is_empty() {
            sql.push_str(&format!(" FROM {}", from.join(", ")));
        }
        if let Some(w) = &s.selection {
            sql.push_str(&format!(" WHERE {}", self.value(w)?.sql));
        }
        match &s.group_by {
            GroupByExpr::Expressions(exprs, mods) if mods.is_empty() => {
                if !exprs.is_empty() {
                    let g = exprs.iter().map(|x| self.value(x).map(|v| v.sql)).collect::<R<Vec<_>>>()?;
                    sql.push_str(&format!(" GROUP BY {}", g.join(", ")));
                }
            }
            other => return Err(self.no(other.to_string(), "not translated")),
        }
        if let Some(h) = &s.having {
            sql.push_str(&format!(" HAVING {}", self.value(h)?.sql));
        }
        if items.len() != 1 {
            ty = Ty::Unknown;
        }
        Ok((sql, ty))
    }
}

fn plain_select(s: &Select) -> bool {
    s.distinct.is_none()
        && s.optimizer_hints.is_empty()
        && s.select_modifiers.is_none()
        && s.top.is_none()
        && s.exclude.is_none()
        && s.into.is_none()
        && s.lateral_views.is_empty()
        && s.prewhere.is_none()
        && s.connect_by.is_empty()
        && s.cluster_by.is_empty()
        && s.distribute_by.is_empty()
        && s.sort_by.is_empty()
        && s.named_window.is_empty()
        && s.qualify.is_none()
        && s.value_table_mode.is_none()
        && matches!(s.flavor, sqlparser::ast::SelectFlavor::Standard)
}
