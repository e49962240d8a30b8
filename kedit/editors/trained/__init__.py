"""The editors that learn to edit before they edit (MEND, KE, SERAC): their training edits
(``data``), the one meta-training loop behind ``keval train`` (``trainer``), their artifacts
(``artifact``), the gradient-to-update core MEND and KE share (``weights``) and the editor side that
loads an artifact and edits with it (``editor``)."""
