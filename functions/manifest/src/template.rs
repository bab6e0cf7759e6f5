//! Templates over application variables, as components write their variables in
//! `spin.toml`: `"{{ token_secret }}"`, `"Bearer {{ api_key }}"`.

use std::collections::HashMap;

/// Variable names as Spin accepts them: `[a-z][a-z0-9_]*`.
pub fn valid_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The application variables a template refers to.
pub fn template_references(template: &str) -> Result<Vec<&str>, String> {
    let mut refs = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(|| format!("unclosed {{{{ in {template:?}"))?;
        let name = after[..end].trim();
        if !valid_variable_name(name) {
            return Err(format!("bad variable reference {name:?} in {template:?}"));
        }
        refs.push(name);
        rest = &after[end + 2..];
    }
    Ok(refs)
}

/// Expands `{{ name }}` references in `template` with `values`.
pub fn expand_template(template: &str, values: &HashMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(|| format!("unclosed {{{{ in {template:?}"))?;
        let name = after[..end].trim();
        let value = values.get(name).ok_or_else(|| format!("variable {name} has no value"))?;
        out.push_str(value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_and_expansion() {
        assert_eq!(template_references("{{ a }}-{{b_2}}").unwrap(), ["a", "b_2"]);
        assert!(template_references("{{ A }}").is_err());
        assert!(template_references("{{ a ").is_err());
        let values = HashMap::from([("a".to_owned(), "x".to_owned())]);
        assert_eq!(expand_template("<{{ a }}|{{a}}>", &values).unwrap(), "<x|x>");
        assert_eq!(expand_template("plain", &values).unwrap(), "plain");
        assert!(expand_template("{{ b }}", &values).is_err());
    }
}
