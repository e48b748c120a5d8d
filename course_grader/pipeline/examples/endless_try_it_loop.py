# Appended to a correct solution cell: a "let me try it" loop whose exit condition is never
# met (x converges to 0.2 and never drops to 0). The cell runs until the per-cell time limit
# interrupts it; the class above it is defined by then, so the tests after it still run.
x = 1.0
while x > 0:
    x = 0.5 * x + 0.1
