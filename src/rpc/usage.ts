// GetUsage: the request's time range and grouping checked and mapped, the totals mapped back.
import type { MessageInitShape } from '@bufbuild/protobuf';
import { timestampDate, type Timestamp } from '@bufbuild/protobuf/wkt';
import { UsageGrouping, type GetUsageRequest, type GetUsageResponseSchema } from '../../gen/parley/v1/conversation_service_pb.ts';
import type { UsageGrouping as Grouping, UsageTotal } from '../domain/records.ts';
import { invalid } from './validate.ts';

const DAY_MS = 86_400_000;
const MAX_RANGE_DAYS = 400;

export interface UsageQuery {
  from: Date;
  to: Date;
  grouping: Grouping;
}

export function usageQuery(request: GetUsageRequest, now: Date = new Date()): UsageQuery {
  const to = request.endTime ? date('end_time', request.endTime) : now;
  const from = request.startTime ? date('start_time', request.startTime) : new Date(to.getTime() - 30 * DAY_MS);
  if (from.getTime() > to.getTime()) throw invalid('start_time', 'must not be after end_time');
  if (to.getTime() - from.getTime() > MAX_RANGE_DAYS * DAY_MS) throw invalid('start_time', `must be at most ${MAX_RANGE_DAYS} days before end_time`);
  return { from, to, grouping: grouping(request.groupBy) };
}

export function usageResponse(totals: UsageTotal[]): MessageInitShape<typeof GetUsageResponseSchema> {
  return {
    totals: totals.map((total) => ({
      day: total.day,
      model: total.model,
      conversationId: total.conversationId ?? '',
      subjectId: total.subjectId ?? '',
      modelRequests: BigInt(total.modelRequests),
      inputTokens: BigInt(total.inputTokens),
      outputTokens: BigInt(total.outputTokens),
      cacheCreationInputTokens: BigInt(total.cacheCreationInputTokens),
      cacheReadInputTokens: BigInt(total.cacheReadInputTokens),
      webSearchRequests: BigInt(total.webSearchRequests),
    })),
  };
}

function grouping(value: UsageGrouping): Grouping {
  switch (value) {
    case UsageGrouping.UNSPECIFIED:
      return 'none';
    case UsageGrouping.CONVERSATION:
      return 'conversation';
    case UsageGrouping.SUBJECT:
      return 'subject';
    default:
      throw invalid('group_by', 'must be USAGE_GROUPING_UNSPECIFIED, USAGE_GROUPING_CONVERSATION or USAGE_GROUPING_SUBJECT');
  }
}

function date(field: string, value: Timestamp): Date {
  const result = timestampDate(value);
  // Timestamp's own range (years 1 to 9999), which protobuf's decoding does not check.
  if (Number.isNaN(result.getTime()) || result.getUTCFullYear() < 1 || result.getUTCFullYear() > 9999 || value.nanos < 0 || value.nanos > 999_999_999) {
    throw invalid(field, 'must be a valid timestamp');
  }
  return result;
}
