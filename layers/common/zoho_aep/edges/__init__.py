"""Edges: where the outside world comes in. One module per Lambda function (named like its ``functions/``
folder), the operator's command line, and the callback's pages. They parse, call a use case, shape the answer."""
