namespace Kernels.Numerics;

/// <summary>
/// One query's screened candidates (<see cref="IScoreBackend.Screen"/>): the indices, ascending, of the training points
/// whose logit may be within <see cref="ScorePartials.NegligibleLogit{T}"/> nats of the query's largest, a superset of
/// those that are; or, with <paramref name="everyPoint"/>, no list (the screen could not bound that query, or nearly every
/// point qualified), and the caller evaluates every point. The span is valid only during the call.
/// </summary>
/// <param name="query">The query's row in the batch.</param>
/// <param name="candidates">The candidates' indices, ascending (empty when <paramref name="everyPoint"/>).</param>
/// <param name="everyPoint">True when every training point must be evaluated.</param>
public delegate void ScreenedCandidates(int query, ReadOnlySpan<int> candidates, bool everyPoint);
