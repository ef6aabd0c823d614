"""Pure logic at the bottom: values, rules and plans with an injected clock. No I/O, no OS calls."""
